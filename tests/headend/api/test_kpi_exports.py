"""``/api/kpi/collection`` and ``/api/exports/*`` on an engine whose store holds known days.

The frozen values are written straight into the embedded store (the producers are covered by
the system test): the KPIs must count each meter-day by its stored quality, keep them in
``kpi.sqlite``, and the exports must page the change log with the cursor, once each, with the
archive's customer dimension.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from headend.api import create_app
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from storage.archive.records import ArchiveMeter
from storage.archive.store import ARCHIVE_FILE, ArchiveStore
from storage.embedded import SqliteStore
from storage.exports.cim_meter_readings import NAMESPACE
from storage.records import Quality, Reading, ReadingKind
from tests.headend.api.fleet import READER, START, TOKENS, fleet_table
from tests.support.concentrator_fleet import NOW, TODAY, TZ, concentrator_fleet
from transports.memory import MemoryNetwork

TOTAL = "energy_active_import_total"
FREEZE = datetime.combine(TODAY, time(), TZ).astimezone(UTC)
"""The freeze billing shows on TODAY (the end of yesterday)."""


def frozen(meter: str, value: float, quality: Quality, quantity: str = TOTAL) -> Reading:
    return Reading(meter, quantity, value, "kWh", FREEZE, ReadingKind.FROZEN, quality)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, SqliteStore]]:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(concentrator_fleet(), "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl"),
    )
    with ArchiveStore.open(tmp_path / ARCHIVE_FILE) as archive:
        archive.import_meters(
            [
                ArchiveMeter(
                    "m1",
                    "000000000001",
                    terminal="jzq-T1",
                    pn=1,
                    account="4400000001",
                    asset="ZC-1",
                    customer="Li Lei",
                    building="B7",
                    ct_ratio=2.0,
                ),
                ArchiveMeter("m2", "000000000002", terminal="jzq-T1", pn=2, building="B7"),
                ArchiveMeter(
                    "m3", "000000000003", terminal="jzq-T1", pn=3, installed=TODAY + timedelta(1)
                ),
            ]
        )
    app = create_app(engine, tokens=TOKENS, store=store, data_dir=tmp_path)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://headend", headers=READER
    ) as http:
        yield http, store
    await store.aclose()


async def kpi(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await http.get("/api/kpi/collection", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_kpis_count_stored_qualities_and_keep_them(
    api: tuple[httpx.AsyncClient, SqliteStore],
) -> None:
    http, store = api
    await store.write([frozen("m1", 850.0, Quality.ACTUAL)])
    before = await kpi(http, day=TODAY.isoformat(), by="terminal")
    # m3 is installed tomorrow (archive): not due; m2 has nothing yet.
    (row,) = before["rows"]
    assert (row["group"], row["due"], row["first_attempt"], row["missing"]) == ("jzq-T1", 2, 1, 1)
    assert row["success_rate"] == 0.5
    await store.write([frozen("m2", 900.0, Quality.BACKFILLED)])
    after = await kpi(http, day=TODAY.isoformat(), by="building")
    (building,) = after["rows"]
    assert building["group"] == "B7"  # from the archive, which the fleet file lacks
    assert (building["first_attempt"], building["backfilled"], building["missing"]) == (1, 1, 0)
    assert (building["success_rate"], building["backfill_rate"]) == (1.0, 1.0)
    assert after["total"]["due"] == 2
    await store.write(
        [Reading.missing("m2", TOTAL, "kWh", FREEZE, "timeout", kind=ReadingKind.FROZEN)]
    )
    kept = await kpi(http, day=TODAY.isoformat(), by="meter")  # the store lost m2's value
    assert {r["group"]: r["backfilled"] for r in kept["rows"]} == {"m1": 0, "m2": 1}
    future = await http.get(
        "/api/kpi/collection", params={"day": (TODAY + timedelta(1)).isoformat()}
    )
    assert future.status_code == 422
    assert "after today" in future.text


async def test_exports_page_the_change_log_once_each_with_the_customer(
    api: tuple[httpx.AsyncClient, SqliteStore],
) -> None:
    http, store = api
    await store.write(
        [
            frozen("m1", 850.0, Quality.ACTUAL),
            frozen("m1", 127.5, Quality.ACTUAL, "energy_active_import_t1"),
            frozen("m2", 900.0, Quality.BACKFILLED),
        ]
    )
    first = await http.get("/api/exports/meter-readings", params={"since": 0, "limit": 2})
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/xml")
    assert first.headers["X-More"] == "true"
    cursor = first.headers["X-Next-Cursor"]
    second = await http.get("/api/exports/meter-readings", params={"since": cursor, "limit": 2})
    assert second.headers["X-More"] == "false"
    ns = {"m": NAMESPACE}
    seen = []
    for page in (first, second):
        for reading in ET.fromstring(page.content).findall("m:MeterReading", ns):
            meter = reading.findtext("m:Meter/m:mRID", namespaces=ns)
            for values in reading.findall("m:Readings", ns):
                seen.append((meter, float(values.findtext("m:value", namespaces=ns) or "nan")))
    assert sorted(seen) == [("m1", 127.5), ("m1", 850.0), ("m2", 900.0)]
    empty = await http.get(
        "/api/exports/meter-readings", params={"since": second.headers["X-Next-Cursor"]}
    )
    assert empty.headers["X-Next-Cursor"] == second.headers["X-Next-Cursor"]
    assert ET.fromstring(empty.content).findall("m:MeterReading", ns) == []

    settlement = await http.get("/api/exports/settlement.csv", params={"since": 0})
    assert settlement.status_code == 200, settlement.text
    rows = {(r["meter"], r["quantity"]): r for r in csv.DictReader(io.StringIO(settlement.text))}
    m1 = rows[("m1", TOTAL)]
    assert (m1["account"], m1["asset"], m1["customer"], m1["multiplier"]) == (
        "4400000001",
        "ZC-1",
        "Li Lei",
        "2.0",
    )
    assert (m1["household"], m1["transformer"]) == ("flat-1", "T1")  # the fleet file's labels
    assert m1["timestamp_local"] == datetime.combine(TODAY, time(), TZ).isoformat()
    assert m1["timestamp_utc"] == FREEZE.isoformat()
    assert rows[("m2", TOTAL)]["quality"] == "backfilled"
    bad = await http.get("/api/exports/settlement.csv", params={"since": -1})
    assert bad.status_code == 422


async def test_bus_meters_are_due_when_their_plan_reads_daily_frozen_values(
    tmp_path: Path,
) -> None:
    table = fleet_table()
    plans: dict[str, Any] = table["plans"]  # type: ignore[assignment]
    plans["home"]["daily_frozen"] = True
    plans["telemetry"] = {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}
    meters: list[dict[str, Any]] = table["meters"]  # type: ignore[assignment]
    meters.append({**meters[1], "id": "m3", "address": "000000000003", "plan": "telemetry"})
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    day = START.astimezone(TZ).date()
    freeze = datetime.combine(day, time(), TZ).astimezone(UTC)
    network = MemoryNetwork()
    network.listen("bus-1")  # the engine opens its bus at construction; it is never read
    try:
        engine = Engine(
            parse_fleet_config(table, "test"),
            store,
            clock=WarpedClock(START, speed=1),
            memory=network,
            options=EngineOptions(audit_path=tmp_path / "audit.jsonl"),
        )
        await store.write(
            [Reading("m1", TOTAL, 5.0, "kWh", freeze, ReadingKind.FROZEN, Quality.ACTUAL)]
        )
        app = create_app(engine, tokens=TOKENS, store=store)  # no data dir: nothing kept
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://headend", headers=READER
        ) as http:
            by_channel = await kpi(http, day=day.isoformat(), by="channel")
            by_terminal = await kpi(http, day=day.isoformat(), by="terminal")
    finally:
        await store.aclose()
    (row,) = by_channel["rows"]  # m3's plan reads no daily value: not due
    assert (row["group"], row["due"], row["first_attempt"], row["missing"]) == ("bus-1", 2, 1, 1)
    assert [r["group"] for r in by_terminal["rows"]] == ["(none)"]  # bus meters: no terminal
    assert not (tmp_path / "kpi.sqlite").exists()
