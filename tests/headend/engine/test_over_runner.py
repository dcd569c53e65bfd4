"""End to end: the head-end engine collects from a running scenario over TCP, with warped time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.fleet_export import fleet_config_for
from simulators.runner import ScenarioRunner
from simulators.scenario import Scenario
from storage.embedded import SqliteStore
from storage.records import Quality, Reading

SPEED = 60.0
TIMEOUT_S = 30.0
FAST_BAUD = 19200
"""Wire time at the scenario's 2400 baud would make one round of 8 meters take seconds."""


async def test_engine_reads_every_meter_of_the_smoke_scenario(
    smoke: Scenario, tmp_path: Path
) -> None:
    async with ScenarioRunner(
        smoke, seed=1, speed=SPEED, baud=FAST_BAUD, clock=WarpedClock(smoke.start, SPEED).now
    ) as runner:
        document = fleet_config_for(smoke, runner.endpoints())
        for channel in document["channels"]:
            channel["inter_frame_gap"] = "5ms"
        config = parse_fleet_config(document, "exported")
        store = await SqliteStore.open(tmp_path / "store.sqlite")
        engine = Engine(
            config,
            store,
            clock=WarpedClock(runner.start, SPEED),
            options=EngineOptions(jitter=0, maintenance=False, audit_path=tmp_path / "audit.jsonl"),
        )
        live = engine.live.subscribe()
        voltages: dict[str, Reading] = {}
        try:
            async with asyncio.TaskGroup() as group:
                collecting = group.create_task(engine.run())
                async with asyncio.timeout(TIMEOUT_S):
                    await engine.ready.wait()
                    while len(voltages) < len(smoke.meters):
                        reading = await live.get()
                        if reading.quantity == "voltage_a" and reading.quality is Quality.ACTUAL:
                            voltages[reading.meter] = reading
                collecting.cancel()
        finally:
            await store.aclose()
    assert set(voltages) == {m.id for m in smoke.meters}
    for meter in smoke.meters:
        reading = voltages[meter.id]
        assert reading.tags["building"] == meter.building
        assert reading.tags["transformer"] == meter.transformer
        assert reading.value is not None
        assert 198.0 < reading.value < 240.0
