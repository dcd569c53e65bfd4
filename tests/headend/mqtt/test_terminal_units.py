"""Terminal units end to end: the real terminal simulator sends W and Wh over a real mosquitto,
the real engine stores kW and kWh, and the load rule sees a normal load as normal."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from headend.anomaly.events import AnomalyKind, SubjectKind
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.community.model import Community
from simulators.fleet_export import fleet_config_for
from simulators.runner import ScenarioRunner
from simulators.scenario import Scenario, load_scenario
from storage.embedded import SqliteStore
from storage.records import Reading, ReadingKind
from tests.support.mosquitto import MosquittoBroker

SPEED = 60.0
TIMEOUT_S = 30.0
SEED = 3


async def test_terminal_power_is_stored_in_kw_and_raises_no_overload(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    smoke: Scenario = load_scenario("smoke")
    runner = ScenarioRunner(
        smoke,
        seed=SEED,
        speed=SPEED,
        mqtt=(mosquitto.host, mosquitto.port),
        clock=WarpedClock(smoke.start, SPEED).now,
    )
    async with runner:
        document = fleet_config_for(smoke, runner.endpoints())
        config = parse_fleet_config(document, "exported")
        store = await SqliteStore.open(tmp_path / "store.sqlite")
        engine = Engine(
            config,
            store,
            clock=WarpedClock(runner.start, SPEED),
            options=EngineOptions(jitter=0, maintenance=False, audit_path=tmp_path / "audit.jsonl"),
        )
        terminals = {t.terminal for t in config.transformers.values()}
        live = engine.live.subscribe()
        wanted = {"power_active_total", "energy_active_import_total"}
        got: dict[str, Reading] = {}
        try:
            async with asyncio.TaskGroup() as group:
                running = group.create_task(engine.run())
                async with asyncio.timeout(TIMEOUT_S):
                    while set(got) != wanted:
                        reading = await live.get()
                        if reading.meter in terminals and reading.quantity in wanted:
                            got[reading.quantity] = reading
                engine.stop()
                await running
            power, energy = got["power_active_total"], got["energy_active_import_total"]
            stored = await store.stored_points(
                ReadingKind.INSTANT,
                [power.meter],
                ["power_active_total"],
                power.timestamp,
                power.timestamp + timedelta(microseconds=1),
            )
        finally:
            await store.aclose()

    # The model's own values at the instant the terminal stamped: kW and kWh.
    twin = Community.from_scenario(smoke, seed=SEED)
    twin.advance_to(power.timestamp)
    truth = twin.transformer_values(power.meter)
    assert power.unit == "kW"
    assert power.value is not None
    assert abs(power.value - truth.power_active_total) <= 0.001  # the terminal rounds to 1 W
    assert [(p.value, p.unit) for p in stored] == [(power.value, "kW")]
    assert energy.unit == "kWh"
    twin_energy = Community.from_scenario(smoke, seed=SEED)
    twin_energy.advance_to(energy.timestamp)
    expected_kwh = twin_energy.transformer_values(energy.meter).energy_active_import_total
    assert energy.value is not None
    assert abs(energy.value - expected_kwh) <= 0.001

    # Normal load: the overload rule must neither see it (well under 100 %) nor hold it.
    (rated,) = [t.rated_kva for t in config.transformers.values() if t.terminal == power.meter]
    assert 0 < power.value / rated < 1.0
    detector = engine.detector
    start = power.timestamp + timedelta(seconds=1)
    detector.sweep(start)
    detector.sweep(start + timedelta(hours=2))  # longer than the overload hold time
    incidents = detector.open_incidents()
    assert incidents.get((AnomalyKind.OVERLOAD, SubjectKind.TRANSFORMER), []) == []
    assert incidents.get((AnomalyKind.HEAVY_LOAD, SubjectKind.TRANSFORMER), []) == []
