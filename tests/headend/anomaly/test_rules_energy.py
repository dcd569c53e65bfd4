"""Suspicious energy registers: backwards, impossible jumps, unexpected export, clock drift."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headend.anomaly import AnomalyConfig
from headend.anomaly.rules import energy

CONFIG = AnomalyConfig()
TOL = CONFIG.energy_tolerance_kwh


@pytest.mark.parametrize(
    ("step", "expected"), [(-2 * TOL, True), (-TOL, False), (0.0, False), (5.0, False)]
)
def test_backwards_beyond_rounding_only(step: float, expected: bool) -> None:
    assert energy.went_backwards(np.array([step]), TOL)[0] == expected


def test_first_read_has_no_step() -> None:
    step = energy.register_step(np.array([100.0]), np.array([np.nan]))
    assert not energy.went_backwards(step, TOL)[0]
    assert not energy.jumped(step, np.array([np.nan]), np.array([10.0]), TOL)[0]


def test_jump_threshold_is_max_power_times_interval() -> None:
    max_kw = CONFIG.single_phase_max_kw
    interval = np.array([900.0, 900.0])
    possible = max_kw * 900.0 / 3600.0
    steps = np.array([possible, possible + 2 * TOL])
    assert energy.jumped(steps, interval, np.array([max_kw, max_kw]), TOL).tolist() == [
        False,
        True,
    ]


def test_implied_power() -> None:
    kw = energy.implied_power_kw(np.array([2.5, 1.0]), np.array([900.0, np.nan]))
    assert kw[0] == pytest.approx(10.0)
    assert np.isnan(kw[1])


def test_export_only_where_not_expected() -> None:
    step = np.array([1.0, 1.0, TOL / 2])
    expects = np.array([False, True, False])
    assert energy.unexpected_export(step, expects, TOL).tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("drift", "expected"), [(301.0, True), (-301.0, True), (300.0, False), (np.nan, False)]
)
def test_clock_drift_either_way(drift: float, expected: bool) -> None:
    assert energy.clock_off(np.array([drift]), CONFIG.clock_drift_limit_s)[0] == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e3), min_size=2, max_size=40))
def test_register_that_never_decreases_never_goes_backwards(increments: list[float]) -> None:
    register = np.cumsum(increments)
    steps = energy.register_step(register[1:], register[:-1])
    assert not energy.went_backwards(steps, TOL).any()


@settings(max_examples=100, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=60.0, max_value=86400.0),
    st.floats(min_value=1.0, max_value=66.0),
)
def test_energy_within_max_power_never_jumps(load: float, interval_s: float, max_kw: float) -> None:
    step = np.array([load * max_kw * interval_s / 3600.0])
    assert not energy.jumped(step, np.array([interval_s]), np.array([max_kw]), TOL)[0]
