"""Billing reads on the embedded store: old stored names still found, and reads that never
hold up collection's writes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from storage.billing import DayState, billing_report
from storage.embedded import SqliteStore
from storage.records import Quality, Reading, ReadingKind
from tests.storage.billing_cases import CHINA, DAY1, QUANTITY, freeze_time, scenario

WAIT_SECONDS = 10.0
"""Bound for a write that should not wait at all; hitting it is the failure."""


async def test_frozen_values_stored_under_the_legacy_name_are_still_billed(
    tmp_path: Path,
) -> None:
    """Stores written before the one naming scheme hold ``frozen_energy_active_import_total``."""
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        legacy = Reading(
            "M1",
            "frozen_" + QUANTITY,
            100.0,
            "kWh",
            freeze_time(DAY1),
            ReadingKind.FROZEN,
            Quality.BACKFILLED,
        )
        await store.write([legacy])
        report = await billing_report(store, meters=["M1"], start=DAY1, end=DAY1, tz=CHINA)
    finally:
        await store.aclose()
    [row] = report.daily
    assert (row.quantity, row.state, row.value) == (QUANTITY, DayState.COLLECTED, 100.0)


async def test_a_billing_read_in_progress_does_not_hold_up_writes(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    in_read = threading.Event()
    release = threading.Event()

    def long_read(connection: sqlite3.Connection) -> int:
        """A billing query that is still running (held until the write is done)."""
        rows = connection.execute("SELECT count(*) FROM points").fetchone()
        in_read.set()
        release.wait(2 * WAIT_SECONDS)
        return int(rows[0])

    # The thread billing queries run on: the reader's since the fix, the only one before.
    query_thread = getattr(store, "_reader", None) or store._thread
    reading = query_thread.submit(long_read)
    try:
        await asyncio.to_thread(in_read.wait, WAIT_SECONDS)
        assert in_read.is_set()
        async with asyncio.timeout(WAIT_SECONDS):
            await store.write(scenario())
        written_while_reading = not reading.done()
    finally:
        release.set()
        await reading
    try:
        report = await billing_report(store, meters=["M1"], start=DAY1, end=DAY1, tz=CHINA)
    finally:
        await store.aclose()
    assert written_while_reading
    assert report.daily[0].value == 100.0
