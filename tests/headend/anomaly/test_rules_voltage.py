"""Voltage deviation limits (GB/T 12325-2008) at and around their thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from headend.anomaly import AnomalyConfig
from headend.anomaly.rules import voltage

CONFIG = AnomalyConfig()


def test_default_bands_are_gb_t_12325() -> None:
    assert CONFIG.single_phase.low_v == pytest.approx(198.0)
    assert CONFIG.single_phase.high_v == pytest.approx(235.4)
    assert CONFIG.three_phase.low_v == pytest.approx(220.0 * 0.93)
    assert CONFIG.three_phase.high_v == pytest.approx(220.0 * 1.07)


def test_limits_follow_supply_type() -> None:
    low, high = voltage.voltage_limits(np.array([False, True]), CONFIG)
    assert low.tolist() == [CONFIG.single_phase.low_v, CONFIG.three_phase.low_v]
    assert high.tolist() == [CONFIG.single_phase.high_v, CONFIG.three_phase.high_v]


@pytest.mark.parametrize(("offset", "expected"), [(-0.01, True), (0.0, False), (0.01, False)])
def test_below_is_strict_at_the_limit(offset: float, expected: bool) -> None:
    limit = CONFIG.single_phase.low_v
    values = np.array([limit + offset])
    assert voltage.below(values, limit, np.array([True]))[0] == expected


@pytest.mark.parametrize(("offset", "expected"), [(-0.01, False), (0.0, False), (0.01, True)])
def test_above_is_strict_at_the_limit(offset: float, expected: bool) -> None:
    limit = CONFIG.single_phase.high_v
    assert voltage.above(np.array([limit + offset]), limit)[0] == expected


def test_worst_phase_ignores_absent_phases() -> None:
    phases = np.array([[230.0, 150.0, np.nan], [np.nan, 190.0, np.nan], [210.0, 220.0, np.nan]])
    lowest, highest = voltage.phase_extremes(phases)
    assert lowest[:2].tolist() == [210.0, 150.0]
    assert highest[:2].tolist() == [230.0, 220.0]
    assert np.isnan(lowest[2])
    assert np.isnan(highest[2])


def test_unknown_voltage_is_neither_low_nor_high() -> None:
    values = np.array([np.nan])
    assert not voltage.below(values, 198.0, np.array([True]))[0]
    assert not voltage.above(values, 235.4)[0]


def test_meter_without_supply_is_not_low() -> None:
    highest = np.array([0.0, CONFIG.zero_voltage_v + 1.0])
    dead = voltage.no_supply(highest, CONFIG.zero_voltage_v)
    assert dead.tolist() == [True, False]
    assert voltage.below(highest, 198.0, ~dead).tolist() == [False, True]
