"""VEE through the API: daily consumption with an estimated day and an exchange bridged,
an admin's edit audited before it wins, findings, and monthly determinants with their source."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from storage.archive.records import ArchiveMeter, MeterExchange
from storage.archive.store import ArchiveStore
from storage.records import Quality, Reading, ReadingKind
from tests.headend.api.fleet import ADMIN, READER, LiveFleet

SITE = ZoneInfo("Asia/Shanghai")
TOTAL = "energy_active_import_total"
# Meters only the archive has (the fleet's m1/m2 are collected live and backfilled).
A_TOTAL = {1: 100.0, 2: 110.0, 4: 130.5, 5: 140.5, 6: 150.0}  # the 3rd never collected
B_TOTAL = {1: 180.0, 2: 195.0, 3: 200.0}
C_TOTAL = {4: 3.5, 5: 10.0, 6: 16.0}
D_TOTAL = {1: 50.0, 2: 40.0, 3: 45.0}  # went down with no exchange
E_TOTAL = {1: 10.0, 2: 20.0, 4: 40.0}  # the 3rd lost, but its profile read 23:45 and 00:15
EXCHANGE = MeterExchange(
    "B",
    "C",
    datetime(2026, 2, 3, 10, 30, tzinfo=SITE),
    {TOTAL: 205.0},
    {TOTAL: 0.5},
    reason="display fault",
)


def frozen(meter: str, day: date, value: float) -> Reading:
    at = datetime.combine(day, time(), SITE)
    return Reading(meter, TOTAL, value, "kWh", at, ReadingKind.FROZEN, Quality.ACTUAL)


def feb(n: int) -> date:
    return date(2026, 2, n)


@pytest.fixture
async def archived(fleet: LiveFleet, tmp_path: Path) -> LiveFleet:
    path = tmp_path / "archive.sqlite"
    with ArchiveStore.open(path) as archive:
        archive.import_meters(
            [ArchiveMeter(m, f"00000000010{i}", transformer="T1") for i, m in enumerate("ABDE")]
        )
        archive.record_exchange(EXCHANGE, ArchiveMeter("C", "000000000109"))
    fleet.engine.archive_path = path
    readings = [frozen("C", date(2026, 3, 1), 100.5)]
    for meter, values in (("A", A_TOTAL), ("B", B_TOTAL), ("C", C_TOTAL), ("D", D_TOTAL)):
        readings += [frozen(meter, feb(n), value) for n, value in values.items()]
    readings += [frozen("E", feb(n), value) for n, value in E_TOTAL.items()]
    midnight = datetime.combine(feb(3), time(), SITE)
    for minutes, value in ((-15, 29.5), (15, 30.5)):  # 00:00 read off the profile: 30.0
        at = midnight + timedelta(minutes=minutes)
        readings.append(Reading("E", TOTAL, value, "kWh", at, ReadingKind.ENERGY))
    await fleet.store.write(readings)
    return fleet


async def consumption(client: httpx.AsyncClient, meter: str) -> list[dict[str, Any]]:
    params = {"meter": meter, "start": "2026-02-01", "end": "2026-02-05", "quantity": TOTAL}
    answer = await client.get("/api/billing/consumption", headers=READER, params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["consumption"]
    return rows


async def test_consumption_estimates_a_missing_day_and_bridges_an_exchange(
    client: httpx.AsyncClient, archived: LiveFleet
) -> None:
    a = await consumption(client, "A")
    assert [(r["value"], r["quality"]) for r in a] == [
        (10.0, "actual"),
        (10.25, "estimated"),
        (10.25, "estimated"),
        (10.0, "actual"),
        (9.5, "actual"),
    ]
    assert a[1]["rules"] == ["linear_interpolation"]
    b = await consumption(client, "B")
    assert [r["value"] for r in b] == [15.0, 5.0, 8.0, 6.5, 6.0]  # 205 - 200 + 3.5 - 0.5
    assert b[2]["meters"] == ["B", "C"]
    e = await consumption(client, "E")
    assert [(r["value"], r["rules"]) for r in e[1:3]] == [(10.0, ["load_profile"])] * 2
    d = await consumption(client, "D")
    assert (d[0]["value"], d[0]["quality"]) == (None, "missing")


async def test_an_admins_edit_is_audited_first_then_wins(
    client: httpx.AsyncClient, archived: LiveFleet
) -> None:
    body = {"meter": "A", "day": "2026-02-03", "value": 121.0, "reason": "read on site"}
    refused = await client.post("/api/vee/edits", headers=READER, json=body)
    assert refused.status_code == 403
    no_reason = await client.post("/api/vee/edits", headers=ADMIN, json={**body, "reason": ""})
    assert no_reason.status_code == 422
    answer = await client.post("/api/vee/edits", headers=ADMIN, json=body)
    assert answer.status_code == 201, answer.text
    kept = answer.json()
    outcome, intent = archived.engine.audit.recent("A")[:2]
    assert (intent.outcome, intent.command, intent.user) == (
        "intent",
        "register edit",
        "fleet-admin",
    )
    assert (outcome.outcome, outcome.ref) == ("ok", intent.id)
    assert kept["audit_id"] == intent.id
    a = await consumption(client, "A")
    assert [(r["value"], r["quality"]) for r in a[1:3]] == [(11.0, "edited"), (9.5, "edited")]
    assert a[1]["rules"] == ["operator_edit"]
    listed = await client.get(
        "/api/vee/edits", headers=READER, params={"start": "2026-02-01", "end": "2026-02-28"}
    )
    assert [e["value"] for e in listed.json()["edits"]] == [121.0]


async def test_findings_name_the_rule_meter_and_day(
    client: httpx.AsyncClient, archived: LiveFleet
) -> None:
    params = {"transformer": "T1", "start": "2026-02-01", "end": "2026-02-05", "quantity": TOTAL}
    answer = await client.get("/api/vee/findings", headers=READER, params=params)
    assert answer.status_code == 200, answer.text
    found = [(f["rule"], f["meter"], f["day"]) for f in answer.json()["findings"]]
    assert ("register_decrease", "D", "2026-02-01") in found
    assert not [f for f in found if f[1] in ("A", "B")]


async def test_determinants_across_the_exchange_state_their_source(
    client: httpx.AsyncClient, archived: LiveFleet
) -> None:
    params = {"meter": "B", "month": "2026-02", "quantity": TOTAL}
    answer = await client.get("/api/billing/determinants", headers=READER, params=params)
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["determinants"]
    assert (found["start"]["meter"], found["start"]["value"]) == ("B", 180.0)
    assert (found["end"]["meter"], found["end"]["value"]) == ("C", 100.5)
    assert found["consumption"] == 125.0  # 205 - 180 + 100.5 - 0.5
    assert found["billed"] == 125.0  # CT x PT 1 in the archive
    assert (found["source"], found["quality"], found["exchanges"]) == (
        "daily_freeze_of_settlement_day",
        "actual",
        1,
    )
    bad = await client.get(
        "/api/billing/determinants", headers=READER, params={"meter": "B", "month": "2026-13"}
    )
    assert bad.status_code == 422
