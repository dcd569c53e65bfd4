"""The embedded SQLite store: writes, overwrite semantics, billing, events, persistence."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.billing import billing_report
from storage.billing_csv import CSV_COLUMNS, write_csv
from storage.embedded import SqliteStore
from storage.records import (
    CollectionOutcome,
    CollectionStatus,
    EventRecord,
    Quality,
    Reading,
    ReadingKind,
    Severity,
)
from storage.sink import Sink
from tests.storage.billing_cases import CHINA, DAY1, DAY3, QUANTITY, check_report, scenario

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def test_store_is_a_sink(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        assert isinstance(store, Sink)
    finally:
        await store.aclose()


async def test_billing_report_for_a_transformer(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write(scenario())
        report = await billing_report(store, transformer="T1", start=DAY1, end=DAY3, tz=CHINA)
    finally:
        await store.aclose()
    check_report(report)


async def test_same_series_and_time_overwrites(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        first = Reading("M1", QUANTITY, 1.0, "kWh", T0, ReadingKind.ENERGY, Quality.ESTIMATED)
        second = Reading("M1", QUANTITY, 2.0, "kWh", T0, ReadingKind.ENERGY, Quality.BACKFILLED)
        await store.write([first])
        await store.write([second, second])
        points = await store.stored_points(
            ReadingKind.ENERGY, ["M1"], [QUANTITY], T0, T0 + timedelta(seconds=1)
        )
    finally:
        await store.aclose()
    assert [(p.value, p.quality) for p in points] == [(2.0, Quality.BACKFILLED)]


async def test_within_one_batch_the_later_point_of_a_key_wins(tmp_path: Path) -> None:
    """A batch is inserted in key order (fewer B-tree seeks); of two points with one key in it,
    the one that came later is kept, as when they were inserted in arrival order. Tags shared
    by readings and tags of their own are each stored with their reading."""
    shared = {"transformer": "T1"}
    batch = [
        Reading("M2", QUANTITY, 5.0, "kWh", T0, ReadingKind.ENERGY, tags=shared),
        Reading("M1", QUANTITY, 1.0, "kWh", T0, ReadingKind.ENERGY, tags={"transformer": "T9"}),
        Reading("M1", QUANTITY, 3.0, "kWh", T0 - timedelta(minutes=15), ReadingKind.ENERGY),
        Reading("M1", QUANTITY, 2.0, "kWh", T0, ReadingKind.ENERGY, tags=shared),
    ]
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write(batch)
        points = await store.stored_points(
            ReadingKind.ENERGY, ["M1", "M2"], [QUANTITY], T0 - timedelta(hours=1), T0 + HOUR
        )
        meters = await store.meters_of_transformer("T1")
        elsewhere = await store.meters_of_transformer("T9")
    finally:
        await store.aclose()
    assert [(p.meter, p.timestamp, p.value) for p in points] == [
        ("M1", T0 - timedelta(minutes=15), 3.0),
        ("M1", T0, 2.0),
        ("M2", T0, 5.0),
    ]
    assert (meters, elsewhere) == (["M1", "M2"], [])


async def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = await SqliteStore.open(path)
    await store.write([Reading("M1", QUANTITY, 3.0, "kWh", T0, ReadingKind.FROZEN)])
    await store.aclose()
    store = await SqliteStore.open(path)
    try:
        points = await store.stored_points(
            ReadingKind.FROZEN, ["M1"], [QUANTITY], T0, T0 + timedelta(days=1)
        )
    finally:
        await store.aclose()
    assert [p.value for p in points] == [3.0]


async def test_events_and_collection_status_round_trip(tmp_path: Path) -> None:
    event = EventRecord("M1", "voltage_low", T0, Severity.CRITICAL, value=180.0, tags={"ph": "A"})
    status = CollectionStatus("M1", T0, CollectionOutcome.FAILED, 4, 0, None, "timeout")
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write([event, status])
        assert await store.events(meter="M1") == [event]
        assert await store.collection_statuses(start=T0) == [status]
        assert await store.events(meter="M2") == []
    finally:
        await store.aclose()


async def test_foreign_objects_and_non_finite_values_are_dead_lettered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write([{"meter": "M1"}])  # type: ignore[list-item]
        await store.write([Reading("M3", "voltage_a", float("nan"), "V", T0)])
        assert store.dead_letters == 2
    finally:
        await store.aclose()
    assert any("dict" in message for message in caplog.messages)
    assert any(re.search(r"M3/voltage_a .* not finite", m) for m in caplog.messages)


async def test_csv_export_has_a_row_per_day_and_interval(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write(scenario())
        report = await billing_report(store, meters=["M1"], start=DAY1, end=DAY3, tz=CHINA)
    finally:
        await store.aclose()
    out = io.StringIO()
    write_csv(report, out)
    out.seek(0)
    reader = csv.DictReader(out)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    rows = list(reader)
    daily = [row for row in rows if row["record"] == "daily"]
    assert [(row["day"], row["state"]) for row in daily] == [
        ("2026-03-01", "collected"),
        ("2026-03-02", "collected"),
        ("2026-03-03", "not_collected"),
    ]
    assert (daily[1]["value"], daily[1]["unit"], daily[1]["quality"]) == (
        "111.5",
        "kWh",
        "backfilled",
    )
    assert daily[2]["reason"] == "timeout"
    assert sum(1 for row in rows if row["record"] == "interval") == 4
