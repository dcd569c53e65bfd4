"""Completeness, fleet overview and the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

from tests.api.fleet import READER, LiveFleet, next_reading


async def test_completeness_by_transformer_counts_collected_reads(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    reading = await next_reading(fleet.engine, "m2", "voltage_a")
    day = fleet.engine.completeness.local_day(reading.timestamp)
    params = {"day": day.isoformat(), "group_by": "transformer"}
    [row] = (await client.get("/api/completeness", headers=READER, params=params)).json()
    tallies = [fleet.engine.completeness.meter_day(m, day) for m in ("m1", "m2")]
    assert row["group"] == "T1"
    assert row["received"] >= 1
    assert row["received"] <= sum(t.received for t in tallies)  # collection goes on meanwhile
    assert row["success_rate"] == pytest.approx(row["received"] / row["expected"])


@pytest.mark.parametrize(
    ("params", "field"),
    [({"group_by": "street"}, "group_by"), ({"day": "2026-13-01"}, "day")],
)
async def test_bad_completeness_queries_are_422(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/completeness", headers=READER, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_fleet_overview_sums_load_and_finds_the_lowest_voltage(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    fleet.values["m2"]["voltage_a"] = 196.5
    fleet.values["m1"]["power_active_total"] = 30.0
    fleet.values["m2"]["power_active_total"] = 55.0
    await next_reading(fleet.engine, "m2", "voltage_a", value=196.5)
    await next_reading(fleet.engine, "m1", "power_active_total", value=30.0)
    await next_reading(fleet.engine, "m2", "power_active_total", value=55.0)
    body = (await client.get("/api/fleet", headers=READER)).json()
    [t1] = body["transformers"]
    assert t1["voltage_min"] == pytest.approx(196.5)
    assert t1["load_kw"] == pytest.approx(85.0)
    # of 100 kVA, converted to kVA with the rules' assumed power factor, as the alarms are
    power_factor = fleet.engine.detector.config.assumed_power_factor
    assert t1["load_rate"] == pytest.approx(85.0 / power_factor / 100.0)
    buildings = {b["name"]: b for b in body["buildings"]}
    assert buildings["B1"]["load_kw"] == pytest.approx(30.0)
    assert buildings["B2"]["voltage_min"] == pytest.approx(196.5)
    band = body["voltage_band"]
    assert (band["low"], band["high"]) == pytest.approx((198.0, 235.4))  # GB/T 12325, 220 V


async def test_openapi_documents_every_route_and_the_relay_body(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/api/meters",
        "/api/meters/{meter_id}/readings",
        "/api/billing",
        "/api/billing.csv",
        "/api/completeness",
        "/api/alarms/{alarm_id}/ack",
        "/api/meters/{meter_id}/relay",
        "/api/time-sync",
        "/api/stream",
        "/metrics",
    ):
        assert path in paths, path
    relay = document["components"]["schemas"]["RelayIn"]["properties"]["action"]
    assert set(relay["enum"]) == {"trip", "close_permitted", "close_direct"}


async def test_health_names_the_site_time_zone(client: httpx.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert (health["site"], health["timezone"]) == ("api-test", "Asia/Shanghai")
