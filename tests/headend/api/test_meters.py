"""Meters, their status and latest values, and stored history, from a collecting engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import get_args

import httpx
import pytest

from headend.collection.live import LatestValues
from headend.config.fleet import METER_KINDS
from headend.config.meter_table import MeterKind
from storage.records import FailureReason, Reading
from tests.headend.api.fleet import ADMIN, READER, WAIT_SECONDS, LiveFleet, next_reading


async def test_meter_list_places_each_meter_in_the_fleet(client: httpx.AsyncClient) -> None:
    meters = {m["id"]: m for m in (await client.get("/api/meters", headers=READER)).json()}
    assert set(meters) == {"m1", "m2"}
    assert meters["m1"]["transformer"] == "T1"
    assert meters["m2"]["building"] == "B2"
    assert meters["m1"]["status"] == "online"
    assert meters["m1"]["kind"] == "load"


async def test_a_meter_added_as_the_transformers_lv_meter_says_so(
    client: httpx.AsyncClient,
) -> None:
    """An admin sets ``kind`` (the fleet view then leaves the meter out of the loads) and can
    read it back."""
    lv = {"id": "T1-LV", "channel": "bus-1", "plan": "home", "address": "000000000009"}
    added = await client.post(
        "/api/meters", headers=ADMIN, json={**lv, "transformer": "T1", "kind": "transformer_lv"}
    )
    assert added.status_code == 201
    assert added.json()["kind"] == "transformer_lv"
    shown = (await client.get("/api/meters/T1-LV", headers=READER)).json()
    assert shown["kind"] == "transformer_lv"


async def test_meter_page_shows_the_collected_value(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    fleet.values["m1"]["voltage_a"] = 221.7
    await next_reading(fleet.engine, "m1", "voltage_a", value=221.7)
    body = (await client.get("/api/meters/m1", headers=READER)).json()
    latest = {r["quantity"]: r for r in body["latest"]}
    assert latest["voltage_a"]["value"] == pytest.approx(221.7)
    assert latest["voltage_a"]["unit"] == "V"
    assert latest["voltage_a"]["quality"] == "actual"


class CountedLatest(LatestValues):
    """Latest values that count how they are reached: a scan of the fleet shows in ``scans``,
    a lookup by (meter, quantity) in ``lookups``, one meter's own index in ``meters_asked``."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0
        self.lookups = 0
        self.meters_asked: list[str] = []

    def __iter__(self) -> Iterator[tuple[str, str]]:
        self.scans += 1
        return super().__iter__()

    def __getitem__(self, key: tuple[str, str]) -> Reading:
        self.lookups += 1
        return super().__getitem__(key)

    def of_meter(self, meter: str) -> Mapping[str, Reading]:
        self.meters_asked.append(meter)
        return super().of_meter(meter)

    def encoded_of(self, meter: str, encode: Callable[[list[Reading]], bytes]) -> bytes:
        self.meters_asked.append(meter)
        return super().encoded_of(meter, encode)

    def encoded_fleet(
        self, encode: Callable[[list[Reading]], bytes], join: Callable[[list[bytes]], bytes]
    ) -> bytes:
        self.scans += 1  # the fleet's encoded values, meter by meter
        return super().encoded_fleet(encode, join)

    def meters(self) -> list[str]:
        self.scans += 1
        return super().meters()


async def test_meter_page_reads_only_that_meters_values(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    """``GET /api/meters/{id}`` costs that meter's quantities, however large the fleet."""
    at = fleet.engine.clock.now()
    latest = CountedLatest()
    for n in range(2000):
        for quantity, unit in (("voltage_a", "V"), ("current_a", "A")):
            latest.set(Reading(f"x{n:04}", quantity, 1.0, unit, at))
    latest.set(Reading("m1", "voltage_a", 221.0, "V", at))
    latest.set(Reading("m1", "current_a", 5.0, "A", at))
    fleet.engine.live.latest = latest  # collection goes on storing into it
    body = (await client.get("/api/meters/m1", headers=READER)).json()
    assert [r["quantity"] for r in body["latest"]] == ["current_a", "voltage_a"]
    assert {r["meter"] for r in body["latest"]} == {"m1"}
    assert (latest.scans, latest.lookups) == (0, 0), "the page must not walk the fleet"
    assert "m1" in latest.meters_asked
    assert set(latest.meters_asked) <= set(fleet.engine.registry.by_id()), "only fleet meters"
    # The counter does see a scan: the unfiltered latest list walks every value, as it must.
    everything = (await client.get("/api/readings/latest", headers=READER)).json()
    assert len(everything) >= 4002
    assert latest.scans >= 1


async def test_offline_meter_shows_its_last_reason(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    now = fleet.engine.clock.now()
    for _ in range(fleet.engine.options.offline_after):
        fleet.engine.health.failure("m2", FailureReason.TIMEOUT.value, now)
    body = (await client.get("/api/meters/m2", headers=READER)).json()
    assert (body["status"], body["last_reason"]) == ("offline", "timeout")


async def test_unknown_meter_is_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/meters/nope", headers=READER)
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


async def test_latest_readings_filter_by_meter_and_quantity(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    await next_reading(fleet.engine, "m2", "current_a")
    params = {"meter": "m2", "quantity": "current_a"}
    rows = (await client.get("/api/readings/latest", headers=READER, params=params)).json()
    assert [(r["meter"], r["quantity"]) for r in rows] == [("m2", "current_a")]


async def test_history_returns_stored_points(client: httpx.AsyncClient, fleet: LiveFleet) -> None:
    reading = await next_reading(fleet.engine, "m1", "voltage_a")
    params = {
        "quantity": "voltage_a",
        "start": (reading.timestamp - timedelta(minutes=1)).isoformat(),
        "end": (reading.timestamp + timedelta(minutes=1)).isoformat(),
    }
    history: dict[str, object] = {"points": []}
    async with asyncio.timeout(WAIT_SECONDS):
        while not history["points"]:  # until the writer's next flush (every 50 ms)
            response = await client.get("/api/meters/m1/readings", headers=READER, params=params)
            assert response.status_code == 200
            history = response.json()
    assert history["kind"] == "instant"
    points = history["points"]
    assert isinstance(points, list)
    assert points[0]["value"] == pytest.approx(reading.value)


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ({"quantity": "voltage_z"}, "quantity", "voltage_z"),
        ({}, "quantity", "Field required"),
        ({"quantity": "voltage_a", "start": "yesterday"}, "start", "datetime"),
        ({"quantity": "voltage_a", "start": "2026-03-10T00:00:00"}, "start", "offset"),
        (
            {"quantity": "voltage_a", "start": "2026-03-10T00:00Z", "end": "2026-03-09T00:00Z"},
            "end",
            "not after",
        ),
        ({"quantity": "voltage_a", "kind": "weird"}, "kind", "instant"),
    ],
)
async def test_bad_history_queries_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str, text: str
) -> None:
    response = await client.get("/api/meters/m1/readings", headers=READER, params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert text in error["msg"]


def test_the_api_knows_every_meter_kind_the_fleet_file_does() -> None:
    assert get_args(MeterKind) == METER_KINDS
