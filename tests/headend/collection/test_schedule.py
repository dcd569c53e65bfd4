"""Slots align to interval boundaries; offsets are stable and bounded."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from headend.clock import WarpedClock
from headend.collection.schedule import ReadClock, meter_offset, next_slot, slot_start

T0 = datetime(2026, 11, 23, 10, 7, 30, tzinfo=UTC)


def test_slot_start_aligns_to_quarter_hours() -> None:
    assert slot_start(T0, 900) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert next_slot(T0, 900) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


@given(st.text(min_size=1, max_size=12), st.sampled_from([60.0, 900.0, 3600.0, 86400.0]))
def test_offset_is_stable_and_within_window(meter_id: str, interval: float) -> None:
    offset = meter_offset(meter_id, interval)
    assert offset == meter_offset(meter_id, interval)
    assert 0 <= offset < min(60.0, interval / 2)


def test_offsets_spread_a_fleet() -> None:
    offsets = {round(meter_offset(f"{i:012d}", 900), 1) for i in range(252)}
    assert len(offsets) > 200


def test_clock_walks_slots_without_skipping() -> None:
    clock = ReadClock("000000000001", 60, jitter=5)
    due = clock.first_due(T0)
    slots = [due.slot]
    for _ in range(10):
        due = clock.after(due)
        slots.append(due.slot)
        assert due.slot <= due.start_at <= due.slot + timedelta(seconds=60 / 2 + 5)
    steps = {b - a for a, b in itertools.pairwise(slots)}
    assert steps == {timedelta(seconds=60)}


def test_first_due_is_not_in_the_past() -> None:
    clock = ReadClock("000000000002", 900)
    due = clock.first_due(T0)
    assert due.start_at >= T0


def test_warped_clock_runs_faster_than_real_time() -> None:
    start = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    clock = WarpedClock(start, speed=3600)
    first = clock.now()
    time.sleep(0.01)
    second = clock.now()
    assert first >= start
    assert (second - first).total_seconds() >= 0.01 * 3600 * 0.9


async def test_warped_sleep_until_reaches_the_target() -> None:
    clock = WarpedClock(datetime(2026, 11, 23, 18, 0, tzinfo=UTC), speed=600)
    target = clock.now() + timedelta(seconds=30)
    await clock.sleep_until(target)
    assert clock.now() >= target
