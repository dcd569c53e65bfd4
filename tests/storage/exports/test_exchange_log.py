"""Meter exchanges in the change log: the crew's reads logged once, linked, in the CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from storage.archive.records import MeterExchange
from storage.embedded import SqliteStore
from storage.exports.change_log import ChangedReading
from storage.exports.exchange_log import (
    EXCHANGE_FINAL,
    EXCHANGE_INITIAL,
    ExchangeLog,
    in_service_meter,
    reading_of,
    usage_points,
)
from storage.exports.settlement_csv import Customer, settlement_csv
from storage.records import Quality, Reading, ReadingKind

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 6, 20, 2, 30, tzinfo=UTC)  # 10:30 site time
TOTAL = "energy_active_import_total"
T1 = "energy_active_import_t1"
EXCHANGE = MeterExchange(
    "old", "new", AT, {TOTAL: 1234.5, T1: 185.25}, {TOTAL: 0.5, T1: 0.0}, reason="display fault"
)


async def test_the_crews_reads_are_logged_once_after_the_freezes(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        assert isinstance(store, ExchangeLog)
        freeze = Reading("old", TOTAL, 1200.0, "kWh", AT, ReadingKind.FROZEN, Quality.ACTUAL)
        await store.write([freeze])
        added = await store.log_exchange_reads([EXCHANGE])
        again = await store.log_exchange_reads([EXCHANGE])  # every poll logs: nothing new
        entries = await store.changes(0, 100)
    finally:
        await store.aclose()
    assert (added, again) == (4, 0)
    assert [(e.seq, e.meter, e.quantity, e.value, reading_of(e.tags)) for e in entries] == [
        (1, "old", TOTAL, 1200.0, "daily_freeze"),
        (2, "old", TOTAL, 1234.5, EXCHANGE_FINAL),
        (3, "old", T1, 185.25, EXCHANGE_FINAL),
        (4, "new", TOTAL, 0.5, EXCHANGE_INITIAL),
        (5, "new", T1, 0.0, EXCHANGE_INITIAL),
    ]
    assert {e.timestamp for e in entries[1:]} == {AT}
    assert {e.quality for e in entries} == {Quality.ACTUAL}
    assert [e.tags["exchanged_with"] for e in entries[1:]] == ["new", "new", "old", "old"]


def test_a_chain_of_exchanges_is_one_usage_point_named_by_its_first_meter() -> None:
    later = MeterExchange("new", "newer", AT.replace(month=8), {TOTAL: 10.0}, {TOTAL: 0.0})
    assert usage_points([EXCHANGE, later]) == {"old": "old", "new": "old", "newer": "old"}
    loop = MeterExchange("newer", "old", AT.replace(month=9), {TOTAL: 1.0}, {TOTAL: 0.0})
    assert set(usage_points([EXCHANGE, later, loop]).values()) <= {"old", "new", "newer"}


async def test_the_settlement_csv_says_which_row_is_an_exchange_read(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.log_exchange_reads([EXCHANGE])
        entries = await store.changes(0, 100)
    finally:
        await store.aclose()
    customers = {m: Customer(account="4400012345", usage_point="old") for m in ("old", "new")}
    rows = list(csv.DictReader(io.StringIO(settlement_csv(entries, customers, TZ))))
    assert [(r["meter"], r["reading"], r["linked_meter"], r["usage_point"]) for r in rows] == [
        ("old", EXCHANGE_FINAL, "new", "old"),
        ("old", EXCHANGE_FINAL, "new", "old"),
        ("new", EXCHANGE_INITIAL, "old", "old"),
        ("new", EXCHANGE_INITIAL, "old", "old"),
    ]
    assert {(r["day"], r["timestamp_local"]) for r in rows} == {
        ("2026-06-20", "2026-06-20T10:30:00+08:00")
    }
    plain = settlement_csv(entries[:1], {}, TZ)  # no archive: the meter is its own point
    (row,) = csv.DictReader(io.StringIO(plain))
    assert row["usage_point"] == "old"


def test_a_freeze_after_the_exchange_is_named_by_the_new_meter() -> None:
    def freeze(
        seq: int, meter: str, at: datetime, tags: dict[str, str] | None = None
    ) -> ChangedReading:
        return ChangedReading(seq, meter, TOTAL, at, 1.0, "kWh", Quality.ACTUAL, tags or {})

    before = datetime(2026, 6, 19, 16, 0, tzinfo=UTC)  # the 20th's freeze, before 10:30
    after = datetime(2026, 6, 20, 16, 0, tzinfo=UTC)  # the 21st's: the new register
    later = MeterExchange("new", "newer", after + timedelta(days=5), {TOTAL: 9.0}, {TOTAL: 0.0})
    crew = {"reading": EXCHANGE_FINAL, "exchanged_with": "new"}
    rows = [
        freeze(1, "old", before),
        freeze(2, "old", after),
        freeze(3, "old", after + timedelta(days=6)),  # two exchanges on: the newest meter
        freeze(4, "old", AT, crew),  # the crew's read keeps its meter
        freeze(5, "other", after),
    ]
    named = in_service_meter(rows, [EXCHANGE, later])
    assert [(r.seq, r.meter) for r in named] == [
        (1, "old"),
        (2, "new"),
        (3, "newer"),
        (4, "old"),
        (5, "other"),
    ]
    assert named[0] is rows[0]
