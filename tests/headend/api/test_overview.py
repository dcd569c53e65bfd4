"""Completeness, fleet overview and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from headend.api import create_app
from protocols.modbus import builtin_register_map
from simulators.modbus import ModbusMeterSimulator, SimulatedMeter
from storage.records import Reading
from tests.headend.api.fleet import READER, TOKENS, LiveFleet, fleet_table, live_fleet, next_reading

PUMP_KW = 12.0
"""The pump room's DTSU666 (Modbus, a load of T1): its register counts 0.1 W."""
LV_KW = 150.0
"""T1's own LV-side DTSU666: the whole transformer, not one more load."""


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


def _counts(kw: float) -> float:
    """A DTSU666 power register's content for ``kw``: tenths of a watt."""
    return kw * 1000.0 * 10.0


def _with_modbus_meters(port: int, terminal: str | None, lv_meter: bool) -> dict[str, object]:
    table = fleet_table()
    channels = table["channels"]
    meters = table["meters"]
    assert isinstance(channels, list)
    assert isinstance(meters, list)
    channels.append({"name": "tx-room", "url": f"tcp://127.0.0.1:{port}", "protocol": "modbus"})
    modbus = {"channel": "tx-room", "register_map": "chint_dtsu666", "plan": "home"}
    meters.append({**modbus, "id": "pump", "unit_id": 1, "transformer": "T1", "building": "B1"})
    if lv_meter:
        lv = {"id": "T1-LV", "unit_id": 2, "transformer": "T1", "kind": "transformer_lv"}
        meters.append({**modbus, **lv})
    if terminal is not None:
        table["transformers"] = [{"name": "T1", "rated_kva": 100, "terminal": terminal}]
    return table


@asynccontextmanager
async def _mixed_site(
    tmp_path: Path, port: int, *, terminal: str | None = None, lv_meter: bool = False
) -> AsyncIterator[tuple[LiveFleet, httpx.AsyncClient]]:
    """The DL/T 645 meters m1 and m2 plus DTSU666 meters on a pymodbus simulator: the pump
    room's, and T1's own LV-side one if asked for."""
    dtsu = builtin_register_map("chint_dtsu666")
    # What the meters hold is set by register content, as the Chint manual defines it (0.1 W
    # per count), not by the map under test: the map must turn 120000 counts into 12 kW.
    per_count = dtsu.point("power_active_total").scale
    served = {
        1: SimulatedMeter(
            dtsu,
            {
                "voltage_a": 228.0,
                "current_a": 20.0,
                "power_active_total": _counts(PUMP_KW) * per_count,
            },
        ),
        2: SimulatedMeter(
            dtsu,
            {
                "voltage_a": 236.0,
                "current_a": 80.0,
                "power_active_total": _counts(LV_KW) * per_count,
            },
        ),
    }
    async with (
        ModbusMeterSimulator(served, port=port),
        live_fleet(tmp_path, _with_modbus_meters(port, terminal, lv_meter)) as fleet,
    ):
        app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
            for meter in ("m1", "m2", "pump", *(["T1-LV"] if lv_meter else [])):
                await next_reading(fleet.engine, meter, "power_active_total")
            yield fleet, http


async def test_fleet_view_adds_modbus_and_dlt645_power_in_kw(tmp_path: Path, tcp_port: int) -> None:
    async with _mixed_site(tmp_path, tcp_port) as (fleet, http):
        body = (await http.get("/api/fleet", headers=READER)).json()
    [t1] = body["transformers"]
    assert t1["meters"] == 3
    assert t1["load_kw"] == pytest.approx(2 * 6.6 + PUMP_KW, rel=1e-6)
    power_factor = fleet.engine.detector.config.assumed_power_factor
    assert t1["load_rate"] == pytest.approx(t1["load_kw"] / power_factor / 100.0)
    buildings = {b["name"]: b for b in body["buildings"]}
    assert buildings["B1"]["load_kw"] == pytest.approx(6.6 + PUMP_KW, rel=1e-6)


async def test_fleet_view_leaves_out_the_transformers_own_lv_meter(
    tmp_path: Path, tcp_port: int
) -> None:
    async with _mixed_site(tmp_path, tcp_port, lv_meter=True) as (fleet, http):
        body = (await http.get("/api/fleet", headers=READER)).json()
    [t1] = body["transformers"]
    household_kw = 2 * 6.6  # m1 and m2 (tests.headend.api.fleet.meter_values)
    assert t1["meters"] == 3  # m1, m2 and the pump room; not T1-LV
    assert t1["meters_answered"] == 3
    assert t1["lv_meters"] == ["T1-LV"]
    assert t1["meters_kw"] == pytest.approx(household_kw + PUMP_KW, rel=1e-6)
    # The transformer's own meter measures it, as a terminal would: the rules judge that.
    assert t1["load_kw"] == pytest.approx(LV_KW, rel=1e-6)
    assert t1["load_source"] == "terminal"
    power_factor = fleet.engine.detector.config.assumed_power_factor
    assert t1["load_rate"] == pytest.approx(LV_KW / power_factor / 100.0, rel=1e-6)
    buildings = {b["name"]: b for b in body["buildings"]}
    assert buildings["B1"]["load_kw"] == pytest.approx(6.6 + PUMP_KW, rel=1e-6)
    assert "(no building)" not in buildings  # T1-LV has no building and is not a load


async def test_fleet_view_shows_the_terminals_own_power_and_load_rate(
    tmp_path: Path, tcp_port: int
) -> None:
    async with _mixed_site(tmp_path, tcp_port, terminal="TTU-T1") as (fleet, http):
        now = fleet.engine.clock.now() + timedelta(seconds=1)
        telemetry = [
            Reading("TTU-T1", "power_active_total", 160.0, "kW", now),
            Reading("TTU-T1", "load_rate", 168.4, "%", now),
        ]
        await fleet.engine.live.publish(telemetry, durable=True)  # live once stored
        body = (await http.get("/api/fleet", headers=READER)).json()
    [t1] = body["transformers"]
    assert t1["terminal"]["device"] == "TTU-T1"
    assert t1["terminal"]["power_kw"] == pytest.approx(160.0)
    assert t1["terminal"]["load_rate"] == pytest.approx(1.684)
    assert t1["load_source"] == "terminal"
    assert t1["load_kw"] == pytest.approx(160.0)
    power_factor = fleet.engine.detector.config.assumed_power_factor
    assert t1["load_rate"] == pytest.approx(160.0 / power_factor / 100.0)
    assert t1["meters_kw"] == pytest.approx(2 * 6.6 + PUMP_KW, rel=1e-6)


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
