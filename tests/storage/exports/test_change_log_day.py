"""A day read from the change log by freeze time: the latest entry of each key as of ``upto``,
only what was logged after ``after``, paged in (freeze time, seq) order without gaps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.embedded import SqliteStore
from storage.exports.change_log import DayChangeSource, DayPage
from storage.line_protocol import timestamp_ns
from storage.records import Quality, Reading, ReadingKind

DAY = datetime(2026, 7, 17, 16, 0, tzinfo=UTC)  # 2026-07-18 00:00 in Shanghai
TOTAL = "energy_active_import_total"


def frozen(meter: str, value: float, quality: Quality = Quality.ACTUAL, days: int = 0) -> Reading:
    at = DAY + timedelta(days=days)
    return Reading(meter, TOTAL, value, "kWh", at, ReadingKind.FROZEN, quality)


async def test_a_day_gives_the_latest_entry_of_each_key_and_pages_on(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        assert isinstance(store, DayChangeSource)
        assert await store.last_change() == 0
        await store.write([frozen("m1", 1.0, Quality.ESTIMATED), frozen("m2", 2.0)])  # 1, 2
        await store.write([frozen("m3", 3.0), frozen("m1", 9.0, days=-1)])  # 3 (day before), 4
        daily_upto = await store.last_change()
        await store.write([frozen("m1", 1.5, Quality.BACKFILLED), frozen("m4", 4.0, days=1)])
        upto = await store.last_change()
        span = DayPage(timestamp_ns(DAY), timestamp_ns(DAY + timedelta(days=1)), 0, daily_upto)
        daily = await store.day_changes(span, 10)
        now = await store.day_changes(replace(span, upto=upto), 10)
        changed = await store.day_changes(replace(span, after=daily_upto, upto=upto), 10)
        first = await store.day_changes(replace(span, upto=upto), 2)
        last = first[-1]
        rest = await store.day_changes(replace(span, upto=upto, position=(last.ts_ns, last.seq)), 2)
    finally:
        await store.aclose()
    assert (daily_upto, upto) == (4, 6)
    assert [(e.meter, e.value, e.quality) for e in daily] == [
        ("m1", 1.0, "estimated"),
        ("m2", 2.0, "actual"),
        ("m3", 3.0, "actual"),
    ]
    assert [(e.meter, e.value) for e in now] == [("m2", 2.0), ("m3", 3.0), ("m1", 1.5)]
    assert [(e.meter, e.value, e.seq) for e in changed] == [("m1", 1.5, 5)]
    assert [e.seq for e in first + rest] == [e.seq for e in now]
