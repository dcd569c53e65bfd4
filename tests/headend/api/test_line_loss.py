"""``/api/area/line-loss`` on stored values, hand-checked: T1's supply meter read by its
daily freezes (CT 10 from the archive), an exchange bridged and a missing meter making the
figure incomplete and anomalous; T2's supply meter read by interval reads around midnight, a
measured loss of 0; every transformer when none is named; 404 and 422."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from storage.archive.records import ArchiveMeter, MeterExchange, MeterRole
from storage.archive.store import ArchiveStore
from storage.records import Quality, Reading, ReadingKind
from tests.headend.api.fleet import READER, START, LiveFleet

SITE = ZoneInfo("Asia/Shanghai")
TOTAL = "energy_active_import_total"
DAY = "2026-02-03"
FREEZES = {
    "A": {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0},  # 10.0 on the 3rd
    "B": {1: 180.0, 2: 195.0, 3: 200.0},  # exchanged for C on the 3rd
    "C": {4: 3.5},  # 205 - 200 + 3.5 - 0.5 = 8.0
    "D": {1: 50.0, 2: 55.0, 3: 60.0},  # the 4th never collected: missing
    "LV": {3: 500.0, 4: 502.5},  # 2.5 x CT 10 = 25.0 supplied
    "F": {1: 0.0, 2: 10.0, 3: 20.0, 4: 40.5},  # 20.5 on the 3rd, under T2
}
EXCHANGE = MeterExchange(
    "B", "C", datetime(2026, 2, 3, 10, 30, tzinfo=SITE), {TOTAL: 205.0}, {TOTAL: 0.5}
)
LV2_READS = {(2, 23, 55): 1000.0, (3, 0, 5): 1001.0, (3, 23, 50): 1020.0, (4, 0, 10): 1022.0}
"""T2's supply at 00:00 of the 3rd: 1000.5; of the 4th: 1020 + 2 x 10/20 = 1021.0."""


def frozen(meter: str, n: int, value: float) -> Reading:
    at = datetime.combine(date(2026, 2, n), time(), SITE)
    return Reading(meter, TOTAL, value, "kWh", at, ReadingKind.FROZEN, Quality.ACTUAL)


@pytest.fixture
async def area(fleet: LiveFleet, tmp_path: Path) -> LiveFleet:
    path = tmp_path / "archive.sqlite"
    supply = MeterRole.TRANSFORMER_LV
    meters = [
        ArchiveMeter("A", "000000000101", transformer="T1"),
        ArchiveMeter("B", "000000000102", transformer="T1"),
        ArchiveMeter("D", "000000000103", transformer="T1"),
        ArchiveMeter("LV", "000000000104", transformer="T1", kind=supply, ct_ratio=10.0),
        ArchiveMeter("F", "000000000105", transformer="T2"),
        ArchiveMeter("LV2", "000000000106", transformer="T2", kind=supply),
    ]
    with ArchiveStore.open(path) as archive:
        archive.import_meters(meters)
        archive.record_exchange(EXCHANGE, ArchiveMeter("C", "000000000109", transformer="T1"))
    fleet.engine.archive_path = path
    readings = [frozen(m, n, v) for m, values in FREEZES.items() for n, v in values.items()]
    for (n, hour, minute), value in LV2_READS.items():
        at = datetime(2026, 2, n, hour, minute, tzinfo=SITE)
        readings.append(Reading("LV2", TOTAL, value, "kWh", at, ReadingKind.ENERGY))
    await fleet.store.write(readings)
    return fleet


async def line_loss(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/area/line-loss", headers=READER, params=params)
    assert answer.status_code == 200, answer.text
    figures: list[dict[str, Any]] = answer.json()["line_loss"]
    return figures


async def test_an_incomplete_day_with_an_exchange_and_a_missing_meter(
    client: httpx.AsyncClient, area: LiveFleet
) -> None:
    (t1,) = await line_loss(client, day=DAY, transformer="T1")
    assert t1["supplied"]["kwh"] == pytest.approx(25.0)  # (502.5 - 500) x CT 10
    assert t1["supplied"]["source"] == "daily_freeze"
    assert t1["customers_kwh"] == pytest.approx(18.0)  # A 10.0 + B/C 8.0
    assert t1["loss_kwh"] == pytest.approx(7.0)
    assert t1["loss_percent"] == pytest.approx(28.0)
    assert (t1["expected"], t1["included"], t1["missing"]) == (3, 2, ["D"])
    assert t1["completeness"] == pytest.approx(2 / 3, abs=1e-4)
    assert (t1["quality"], t1["anomaly"]) == ("incomplete", "above_threshold")
    assert [(s["meter"], s["reason"]) for s in t1["suspects"]] == [("D", "missing")]


async def test_a_supply_read_by_interval_reads_around_midnight(
    client: httpx.AsyncClient, area: LiveFleet
) -> None:
    (t2,) = await line_loss(client, day=DAY, transformer="T2")
    supplied = t2["supplied"]
    assert (supplied["source"], supplied["quality"]) == ("interval_reads", "actual")
    assert [supplied[end]["value"] for end in ("start", "end")] == [1000.5, 1021.0]
    assert supplied["kwh"] == pytest.approx(20.5)
    assert t2["customers_kwh"] == pytest.approx(20.5)
    assert (t2["loss_kwh"], t2["quality"], t2["anomaly"]) == (0.0, "measured", None)


async def test_every_transformer_when_none_is_named(
    client: httpx.AsyncClient, area: LiveFleet
) -> None:
    figures = await line_loss(client, day=DAY)
    assert [f["transformer"] for f in figures] == ["T1", "T2"]


async def test_an_unknown_transformer_is_404_and_a_bad_day_422(
    client: httpx.AsyncClient, area: LiveFleet
) -> None:
    unknown = await client.get(
        "/api/area/line-loss", headers=READER, params={"day": DAY, "transformer": "T9"}
    )
    assert unknown.status_code == 404
    assert "T9" in unknown.json()["detail"]
    for day in ("2026-02-30", "yesterday"):
        bad = await client.get("/api/area/line-loss", headers=READER, params={"day": day})
        assert bad.status_code == 422, day
        assert bad.json()["detail"][0]["loc"] == ["query", "day"]
    today = START.astimezone(SITE).date().isoformat()  # the clock runs 60x: still today
    not_ended = await client.get("/api/area/line-loss", headers=READER, params={"day": today})
    assert not_ended.status_code == 422
    assert "has not ended" in not_ended.json()["detail"][0]["msg"]
    anonymous = await client.get("/api/area/line-loss", params={"day": DAY})
    assert anonymous.status_code == 401


async def test_an_archive_whose_exchanges_loop_is_409_naming_it(
    client: httpx.AsyncClient, area: LiveFleet
) -> None:
    assert area.engine.archive_path is not None
    back = MeterExchange(
        "C", "B", datetime(2026, 2, 3, 11, 0, tzinfo=SITE), {TOTAL: 0.6}, {TOTAL: 205.0}
    )
    with ArchiveStore.open(area.engine.archive_path) as archive:
        archive.record_exchange(back)  # B -> C -> B: the store lets it in, a chain cannot be
    answer = await client.get(
        "/api/area/line-loss", headers=READER, params={"day": DAY, "transformer": "T1"}
    )
    assert answer.status_code == 409
    assert "loop" in answer.json()["detail"]
