"""Three-phase current and voltage unbalance."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headend.anomaly.rules import unbalance

phase = st.floats(min_value=0.0, max_value=2000.0, allow_nan=False)
three = st.tuples(phase, phase, phase)


def column(a: float, b: float, c: float) -> npt.NDArray[np.float64]:
    return np.array([[a], [b], [c]], dtype=np.float64)


def test_current_unbalance_formula() -> None:
    assert unbalance.current_unbalance(column(100.0, 85.0, 90.0))[0] == pytest.approx(0.15)


def test_no_current_is_balanced_and_unknown_is_nan() -> None:
    assert unbalance.current_unbalance(column(0.0, 0.0, 0.0))[0] == 0.0
    assert np.isnan(unbalance.current_unbalance(column(100.0, np.nan, 90.0))[0])


def test_current_direction_does_not_matter() -> None:
    forward = unbalance.current_unbalance(column(100.0, 80.0, 90.0))
    mixed = unbalance.current_unbalance(column(-100.0, 80.0, -90.0))
    assert forward == pytest.approx(mixed)


@settings(max_examples=100, deadline=None)
@given(three)
def test_current_unbalance_in_unit_interval_and_permutation_invariant(
    currents: tuple[float, float, float],
) -> None:
    a, b, c = currents
    value = unbalance.current_unbalance(column(a, b, c))[0]
    assert 0.0 <= value <= 1.0
    assert unbalance.current_unbalance(column(c, a, b))[0] == pytest.approx(value)
    assert unbalance.current_unbalance(column(b, a, c))[0] == pytest.approx(value)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1.0, max_value=500.0), st.floats(min_value=0.01, max_value=100.0))
def test_current_unbalance_is_scale_invariant(level: float, scale: float) -> None:
    base = column(level, level * 0.8, level * 0.9)
    assert unbalance.current_unbalance(base * scale)[0] == pytest.approx(
        unbalance.current_unbalance(base)[0]
    )


def test_voltage_unbalance_balanced_is_zero() -> None:
    assert unbalance.voltage_unbalance(column(230.0, 230.0, 230.0))[0] == 0.0


def test_voltage_unbalance_largest_deviation_over_mean() -> None:
    value = unbalance.voltage_unbalance(column(220.0, 230.0, 240.0))[0]
    assert value == pytest.approx(10.0 / 230.0)


@settings(max_examples=100, deadline=None)
@given(st.tuples(*[st.floats(min_value=150.0, max_value=260.0)] * 3))
def test_voltage_unbalance_permutation_invariant(volts: tuple[float, float, float]) -> None:
    a, b, c = volts
    value = unbalance.voltage_unbalance(column(a, b, c))[0]
    assert value >= 0.0
    assert unbalance.voltage_unbalance(column(b, c, a))[0] == pytest.approx(value)
