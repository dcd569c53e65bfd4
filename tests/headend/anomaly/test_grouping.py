"""Per-group reductions agree with a plain Python reference, in any member order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headend.anomaly import FleetLayoutError
from headend.anomaly.grouping import Grouping

members = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=4),
        st.one_of(st.floats(min_value=-1e3, max_value=1e3), st.just(math.nan)),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(members)
def test_reductions_match_reference(rows: list[tuple[int, float]]) -> None:
    size = 5
    index = np.array([g for g, _ in rows], dtype=np.intp)
    values = np.array([v for _, v in rows], dtype=np.float64)
    grouping = Grouping(index, size, "test")
    mask = values > 0
    for group in range(size):
        mine = [v for g, v in rows if g == group]
        known = [v for v in mine if not math.isnan(v)]
        assert grouping.count(mask)[group] == sum(1 for v in mine if v > 0)
        assert grouping.sum(values)[group] == pytest.approx(sum(known))
        if known:
            assert grouping.min(values)[group] == min(known)
        else:
            assert math.isnan(grouping.min(values)[group])
        expected_share = sum(1 for v in mine if v > 0) / len(mine) if mine else 0.0
        assert grouping.fraction(mask)[group] == pytest.approx(expected_share)


def test_spread_gives_members_their_group_flag() -> None:
    grouping = Grouping(np.array([1, 0, 1]), 2, "test")
    assert grouping.spread(np.array([False, True])).tolist() == [True, False, True]


@pytest.mark.parametrize("index", [[0, 2], [-1, 0]])
def test_index_out_of_range_is_named(index: list[int]) -> None:
    with pytest.raises(FleetLayoutError, match="meter_transformer"):
        Grouping(np.array(index), 2, "meter_transformer")
