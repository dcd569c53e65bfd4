"""The change log in the embedded store: numbered in the storing transaction, each change once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.embedded import SqliteStore
from storage.exports.change_log import ChangeSource
from storage.records import Quality, Reading, ReadingKind

T0 = datetime(2026, 7, 18, 16, 0, tzinfo=UTC)  # local midnight in Asia/Shanghai
TOTAL = "energy_active_import_total"
TAGS = {"terminal": "jzq-T1", "household": "flat-2"}


def frozen(
    meter: str, value: float | None, *, day: int = 0, quality: Quality = Quality.ACTUAL
) -> Reading:
    at = T0 + timedelta(days=day)
    if value is None:
        return Reading.missing(meter, TOTAL, "kWh", at, "timeout", kind=ReadingKind.FROZEN)
    return Reading(meter, TOTAL, value, "kWh", at, ReadingKind.FROZEN, quality, tags=TAGS)


async def test_each_stored_frozen_value_is_logged_once_in_order(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        assert isinstance(store, ChangeSource)
        batch = [frozen("m1", 10.5), frozen("m2", 20.25), frozen("m1", 11.0, day=1)]
        await store.write(batch)
        await store.write(batch)  # the outbox retrying the same batch: nothing new
        interval = Reading("m1", TOTAL, 1.0, "kWh", T0, ReadingKind.ENERGY)
        await store.write([interval, frozen("m3", None)])  # not a billing value: not logged
        entries = await store.changes(0, 100)
    finally:
        await store.aclose()
    assert [(e.meter, e.value, e.timestamp) for e in entries] == [
        ("m1", 10.5, T0),
        ("m1", 11.0, T0 + timedelta(days=1)),  # a batch is stored in key order
        ("m2", 20.25, T0),
    ]
    assert [e.seq for e in entries] == sorted({e.seq for e in entries})
    assert entries[0].tags == TAGS
    assert entries[0].quality is Quality.ACTUAL


async def test_a_corrected_value_is_a_new_entry_and_a_cursor_pages_without_gaps(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    store = await SqliteStore.open(path)
    try:
        await store.write([frozen("m1", 10.0, quality=Quality.ESTIMATED)])
        await store.write([frozen(f"m{n}", float(n), day=1) for n in range(2, 7)])
        await store.write([frozen("m1", 10.5, quality=Quality.BACKFILLED)])
    finally:
        await store.aclose()
    store = await SqliteStore.open(path)  # the numbers survive a restart
    try:
        pages, cursor = [], 0
        while True:
            page = await store.changes(cursor, 3)
            if not page:
                break
            pages.append(page)
            cursor = page[-1].seq
        await store.write([frozen("m7", 7.0)])
        after = await store.changes(cursor, 3)
    finally:
        await store.aclose()
    entries = [e for page in pages for e in page]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert (entries[0].meter, entries[0].quality) == ("m1", Quality.ESTIMATED)
    assert (entries[-1].meter, entries[-1].value, entries[-1].quality) == (
        "m1",
        10.5,
        Quality.BACKFILLED,
    )
    assert len({e.seq for e in entries}) == 7
    assert [(e.meter, e.seq > cursor) for e in after] == [("m7", True)]


async def test_a_store_from_before_the_change_log_logs_its_history_once(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = await SqliteStore.open(path)
    try:
        await store.write([frozen("m1", 1.0), frozen("m2", 2.0, day=1)])
    finally:
        await store.aclose()
    with sqlite3.connect(path) as db:  # as an older head-end left it: no log
        db.execute("DROP TABLE change_log")
    for _ in range(2):  # seeded on the first open only
        store = await SqliteStore.open(path)
        try:
            entries = await store.changes(0, 100)
        finally:
            await store.aclose()
        assert [(e.meter, e.value) for e in entries] == [("m1", 1.0), ("m2", 2.0)]
