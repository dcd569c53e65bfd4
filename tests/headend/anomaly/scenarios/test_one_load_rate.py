"""Issue 11, one load rate: the dashboard's load rate is the overload alarm's, sweep for sweep.

The pre-retrofit community model is stepped through the evening in 5-minute steps, and what the
head-end would collect from it goes through the real engine: every meter's DL/T 645 telemetry
(voltages, currents, active power, as the scenario's fleet config plans them) and, when the
transformer has one, its terminal's telemetry, all through ``LiveReadings.publish``. After each
sweep the HTTP API is asked for the fleet overview and the alarms. At the sweep that raises
the overload, and at every sweep that reports it worse, the API's load rate is the value of
the overload alarm.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import httpx
import pytest

from headend.api import create_app
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.community.model import Community
from simulators.community.values import QUANTITY_UNITS
from simulators.fleet_export import fleet_config_for
from simulators.runner import Endpoints
from simulators.scenario import load_scenario
from storage.embedded import SqliteStore
from storage.records import FailureReason, Reading
from tests.headend.api.fleet import READER, TOKENS
from transports.memory import MemoryNetwork

STEP = timedelta(minutes=5)
FIRST = time(17, 0)
STEPS = 5 * 12  # 17:00 .. 22:00 local, the evening peak
TELEMETRY = (
    "voltage_a",
    "voltage_b",
    "voltage_c",
    "current_a",
    "current_b",
    "current_c",
    "power_active_total",
)
TERMINAL = (*TELEMETRY, "load_rate")
SILENT_EVERY = 10
"""Without a terminal, every tenth meter stops answering at 17:00: the rules scale the sum of
the others up by their share, and a stale value must not stand in for a silent meter."""


@dataclass
class SteppedClock:
    """The engine's clock, moved by the test from one sweep to the next."""

    moment: datetime

    def now(self) -> datetime:
        return self.moment

    async def sleep_until(self, when: datetime) -> None:
        raise AssertionError("the engine is driven by the test, not run")

    def real_seconds(self, span: float) -> float:
        return span


@dataclass
class Site:
    engine: Engine
    clock: SteppedClock
    community: Community
    http: httpx.AsyncClient


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    scenario = load_scenario("retrofit-before")
    endpoints = Endpoints({bus.id: f"memory://{bus.id}" for bus in scenario.buses}, None)
    config = parse_fleet_config(fleet_config_for(scenario, endpoints), "retrofit-before")
    network = MemoryNetwork()
    for bus in scenario.buses:
        network.listen(bus.id)  # built, never run: the test hands it what collection would
    local = scenario.start.astimezone(scenario.utc_offset)
    clock = SteppedClock(datetime.combine(local.date(), FIRST, scenario.utc_offset))
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        config,
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl"),
    )
    app = create_app(engine, tokens=TOKENS, store=store)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
            yield Site(engine, clock, Community.from_scenario(scenario, 0), http)
    finally:
        await store.aclose()


def collected(site: Site, moment: datetime, *, terminal: bool) -> Iterator[Reading]:
    """What one collection round and the terminal's telemetry hand the engine at ``moment``."""
    community = site.community
    for index, meter_id in enumerate(community.meter_ids):
        if not terminal and index % SILENT_EVERY == 0:
            yield Reading.missing(
                meter_id, "power_active_total", "kW", moment, FailureReason.TIMEOUT
            )
            continue
        values = community.meter_values(meter_id).quantities()
        for quantity in TELEMETRY:
            if quantity in values:
                unit = QUANTITY_UNITS[quantity]
                yield Reading(meter_id, quantity, values[quantity], unit, moment)
    if not terminal:
        return
    for transformer in site.engine.config.transformers.values():
        device = transformer.terminal or transformer.name
        told = community.transformer_values(transformer.name)
        units = {**QUANTITY_UNITS, "load_rate": "%"}
        for quantity in TERMINAL:
            yield Reading(device, quantity, float(getattr(told, quantity)), units[quantity], moment)


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "meters-only"])
async def test_api_load_rate_is_the_overload_alarms_value_for_the_same_sweep(
    site: Site, terminal: bool
) -> None:
    compared = 0
    for step in range(STEPS + 1):
        moment = site.clock.moment + (STEP if step else timedelta(0))
        site.clock.moment = moment
        site.community.advance_to(moment)
        await site.engine.live.publish(list(collected(site, moment, terminal=terminal)))
        records = site.engine.sweeps.sweep()
        changed = {r.meter for r in records if r.event == "overload"}
        if not changed:
            continue
        fleet = (await site.http.get("/api/fleet", headers=READER)).json()
        alarms = (await site.http.get("/api/alarms", headers=READER)).json()
        rates = {t["name"]: t for t in fleet["transformers"]}
        for alarm in alarms:
            if alarm["kind"] != "overload" or alarm["subject"] not in changed:
                continue
            shown = rates[alarm["subject"]]
            assert shown["load_rate"] == pytest.approx(alarm["value"], rel=1e-12), moment
            assert shown["load_source"] == ("terminal" if terminal else "meters")
            if not terminal:  # the silent tenth is estimated from the others, not remembered
                assert shown["meters_answered"] < shown["meters"]
                share = shown["meters_answered"] / shown["meters"]
                assert shown["load_kw"] == pytest.approx(shown["meters_kw"] / share)
            compared += 1
    assert compared >= 1, "the evening peak overloads the pre-retrofit transformer"
