"""Slots align to interval boundaries; offsets are stable and bounded."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
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


# -- offsets and jitter: stable across processes and releases, spread as they always were ------

IDS = ["000000000001", "000000000002", "gw-1:3", "B1-0101"]


def due_times(meter_ids: list[str]) -> list[list[float]]:
    """Each meter's offset at three intervals and the start times of five jittered slots."""
    rows = []
    for meter_id in meter_ids:
        row = [meter_offset(meter_id, interval) for interval in (60.0, 900.0, 3600.0)]
        clock = ReadClock(meter_id, 60, jitter=5)
        due = clock.first_due(T0)
        for _ in range(5):
            row.append(due.start_at.timestamp())
            due = clock.after(due)
        rows.append(row)
    return rows


def test_offsets_and_jitter_are_the_same_in_another_process() -> None:
    script = (
        "import json, sys; from tests.headend.collection.test_schedule import due_times; "
        "print(json.dumps(due_times(sys.argv[1:])))"
    )
    # Another hash seed: nothing may hang on str hashing, which changes from process to process.
    environ = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", script, *IDS],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert json.loads(other.stdout) == due_times(IDS)


def test_offsets_keep_the_values_earlier_releases_gave() -> None:
    """A restart on a new release keeps every meter's rhythm (and ``headend_down`` slots)."""
    assert meter_offset("000000000001", 900) == 44.644682074700555
    assert meter_offset("000000000002", 60) == 5.225285023481249
    assert meter_offset("gw-1:3", 3600) == 3.6931502562382996


def test_offsets_spread_evenly_over_the_window() -> None:
    offsets = [meter_offset(f"{i:012d}", 900) for i in range(20_000)]
    bins = [0] * 10
    for offset in offsets:
        bins[int(offset / 6.0)] += 1
    assert all(1_800 <= count <= 2_200 for count in bins), bins
    assert 29.0 < sum(offsets) / len(offsets) < 31.0


def test_jitter_is_spread_within_its_bound_and_the_same_for_the_same_slot() -> None:
    clock = ReadClock("000000000001", 60, jitter=5)
    due = clock.first_due(T0)
    extras = []
    for _ in range(2_000):
        extras.append((due.start_at - due.slot).total_seconds() - clock.offset)
        due = clock.after(due)
    assert all(0 <= extra < 5 for extra in extras)
    bins = [0] * 5
    for extra in extras:
        bins[int(extra)] += 1
    assert all(300 <= count <= 500 for count in bins), bins
    # A walk started later (after a restart) gives each slot the start time it had.
    later = ReadClock("000000000001", 60, jitter=5).first_due(T0 + timedelta(minutes=30))
    walked = clock.first_due(T0)
    while walked.slot < later.slot:
        walked = clock.after(walked)
    assert walked == later
    other = ReadClock("000000000002", 60, jitter=5).first_due(T0)
    assert (other.start_at - other.slot).total_seconds() - meter_offset(
        "000000000002", 60
    ) != pytest.approx(extras[0])


def test_a_read_clock_holds_no_generator_of_its_own() -> None:
    """A fleet holds one per meter and read spec: a ``random.Random`` each was 2.5 KiB."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    clocks = [ReadClock(f"{i:012d}", 900, jitter=2) for i in range(1_000)]
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(clocks) == 1_000
    assert held / 1_000 < 400
