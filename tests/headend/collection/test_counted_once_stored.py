"""Completeness counts a read only once it is stored: a scheduled read the writer drops is a
``not_stored`` failure, a dropped frozen day is read again; and each meter's frozen values are
stored as soon as they are read."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta

from headend.collection.writer import Overflow, WriterLimits
from storage.records import ReadingKind
from tests.support.engine_rig import M1, START, Rig, collect

ENERGY = "energy_active_import_total"
PAST_DAY = date(2026, 11, 20)
"""A day before the test's start: only the backfill counts anything for it."""


async def stored_frozen(rig: Rig) -> int:
    points = await rig.store.stored_points(
        ReadingKind.FROZEN, [M1], [ENERGY], START - timedelta(days=10), START + timedelta(days=1)
    )
    return len([p for p in points if p.value is not None])


async def test_a_stop_mid_pass_keeps_the_frozen_values_already_read(rig: Rig) -> None:
    backfill = asyncio.create_task(rig.engine.backfill_passes.run_pass())
    await collect(rig.live, lambda seen: any(r.kind is ReadingKind.FROZEN for r in seen))
    backfill.cancel()  # the stop: M2's values were still being read (meters go in turn)
    with contextlib.suppress(asyncio.CancelledError):
        await backfill
    assert backfill.cancelled()  # before the fix the pass published (and ended) all at once
    assert await stored_frozen(rig) == 5


async def test_a_frozen_day_counts_once_stored_and_a_dropped_one_is_read_again(
    rig: Rig,
) -> None:
    writer = rig.engine.writer
    normal = writer.limits
    writer.limits = WriterLimits(limit=1, overflow=Overflow.DROP_NEWEST)  # every batch dropped
    assert await rig.engine.backfill_passes.run_pass()
    assert writer.stats.dropped > 0
    tally = rig.engine.completeness.meter_day(M1, PAST_DAY)
    assert (tally.expected, tally.received) == (0, 0)  # not stored: not counted
    assert rig.engine.backfill.collected(M1) == set()

    writer.limits = normal
    again = await rig.engine.backfill_passes.run_pass()
    assert {r.timestamp.astimezone(rig.engine.tz).date() for r in again if r.meter == M1} >= {
        PAST_DAY
    }
    await writer.flush()
    tally = rig.engine.completeness.meter_day(M1, PAST_DAY)
    assert (tally.expected, tally.received, tally.backfilled) == (1, 1, 1)
    assert await stored_frozen(rig) == 5


async def test_a_scheduled_read_the_writer_drops_is_not_received(rig: Rig) -> None:
    writer = rig.engine.writer
    day = rig.engine.completeness.local_day(START)

    # A block read of four voltages is more than the buffer holds: dropped whole, at once.
    writer.limits = WriterLimits(limit=3, overflow=Overflow.DROP_NEWEST)
    async with asyncio.timeout(60):
        await writer.overflowing.wait()
    assert writer.stats.dropped == 4
    (fleet,) = rig.engine.completeness.rollup(day, lambda meter: "fleet")
    assert fleet.failures == {"not_stored": 1}  # before the fix: counted received at read time
    assert fleet.received + 1 == fleet.expected
