"""Transformer load rate from terminal power or from its meters, and its thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headend.anomaly.grouping import Grouping
from headend.anomaly.rules import loading

TWO_TRANSFORMERS = Grouping(np.array([0, 0, 0, 0, 1, 1]), 2, "test")


def test_terminal_power_wins_over_meter_sum() -> None:
    meters = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0])
    terminal = np.array([50.0, np.nan])
    power = loading.transformer_power_kw(terminal, meters, TWO_TRANSFORMERS, 0.5)
    assert power.tolist() == [50.0, 4.0]


def test_meter_sum_is_scaled_by_coverage_when_enough_answered() -> None:
    meters = np.array([1.0, 3.0, np.nan, np.nan, 2.0, np.nan])
    terminal = np.full(2, np.nan)
    power = loading.transformer_power_kw(terminal, meters, TWO_TRANSFORMERS, 0.5)
    assert power[0] == pytest.approx((1.0 + 3.0) * 4 / 2)
    assert power[1] == pytest.approx(2.0 * 2 / 1)
    strict = loading.transformer_power_kw(terminal, meters, TWO_TRANSFORMERS, 0.75)
    assert np.isnan(strict).all()


def test_load_rate_uses_power_factor_and_rating() -> None:
    rate = loading.load_rate(np.array([380.0, -380.0]), np.array([400.0, 400.0]), 0.95)
    assert rate == pytest.approx([1.0, 1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=50))
def test_meter_sum_is_permutation_invariant(powers: list[float]) -> None:
    values = np.array(powers)
    grouping = Grouping(np.zeros(values.size, dtype=np.intp), 1, "one")
    shuffled = values.copy()
    np.random.default_rng(len(powers)).shuffle(shuffled)
    nan = np.full(1, np.nan)
    first = loading.transformer_power_kw(nan, values, grouping, 0.5)
    second = loading.transformer_power_kw(nan, shuffled, grouping, 0.5)
    assert first == pytest.approx(second)
    assert first[0] == pytest.approx(values.sum())
