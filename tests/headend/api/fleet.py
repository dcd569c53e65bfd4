"""A running head-end for API tests: a real Engine collecting two simulated DL/T 645 meters
over an in-memory bus, with the embedded store, under a warped clock.

The simulated meters read their numbers from plain dicts (``LiveFleet.values``), so a test can
change what a meter will say next and watch it come through collection to the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from headend.api import ApiToken, Role
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import (
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from storage.embedded import SqliteStore
from storage.records import Reading
from transports import Parity, SerialSettings
from transports.memory import MemoryNetwork

START = datetime(2026, 3, 10, 4, 0, 0, tzinfo=UTC)
"""12:00 in Shanghai: far from midnight, so the local day is the UTC day."""
SPEED = 60.0
"""One simulated minute per real second: the 1-minute telemetry plan reads every second."""
WAIT_SECONDS = 15.0
"""Generous bound for a collection round on a loaded CI machine; normally about a second."""
METERS = {"m1": "000000000001", "m2": "000000000002"}
TOKENS = (
    ApiToken("billing", Role.READER, "reader-secret"),
    ApiToken("control-room", Role.OPERATOR, "operator-secret"),
    ApiToken("fleet-admin", Role.ADMIN, "admin-secret"),
)
READER = {"Authorization": "Bearer reader-secret"}
OPERATOR = {"Authorization": "Bearer operator-secret"}
ADMIN = {"Authorization": "Bearer admin-secret"}


def household_meters(
    addresses: Mapping[str, str], building_of: Callable[[str], str]
) -> list[dict[str, object]]:
    """Three-phase household meters on bus-1 under T1, one ``[[meters]]`` table each."""
    return [
        {
            "id": meter_id,
            "channel": "bus-1",
            "address": address,
            "plan": "home",
            "transformer": "T1",
            "building": building_of(meter_id),
            "household": f"flat-{meter_id}",
            "phase": "ABC",
            "control": "plaintext",  # the simulated meters have no ESAM
        }
        for meter_id, address in addresses.items()
    ]


def fleet_table() -> dict[str, object]:
    meters = household_meters(METERS, lambda meter_id: "B1" if meter_id == "m1" else "B2")
    return {
        "site": {"name": "api-test", "timezone": "Asia/Shanghai"},
        "channels": [
            {
                "name": "bus-1",
                "url": "memory://bus-1",
                "protocol": "dlt645-2007",
                "timeout": "500ms",
                "inter_frame_gap": "1ms",
                "retries": 0,
                "retry_backoff": "10ms",
            }
        ],
        "transformers": [{"name": "T1", "rated_kva": 100}],
        "plans": {
            "home": {
                "reads": [
                    {
                        "quantities": ["voltage_a", "current_a", "power_active_total"],
                        "interval": "1m",
                    },
                    {
                        "quantities": ["energy_active_import_total"],
                        "interval": "15m",
                        "lane": "billing",
                    },
                ]
            }
        },
        "meters": meters,
    }


def meter_values(voltage: float) -> dict[str, float]:
    return {
        "voltage_a": voltage,
        "voltage_b": voltage,
        "voltage_c": voltage,
        "current_a": 10.0,
        "current_b": 10.0,
        "current_c": 10.0,
        "power_active_total": 6.6,
        "energy_active_import_total": 1234.5,
        "frequency": 50.0,
    }


@dataclass(slots=True)
class LiveFleet:
    engine: Engine
    store: SqliteStore
    bus: MeterBus
    values: dict[str, dict[str, float]]
    """What each simulated meter answers next, by meter id; change it to change the meter."""
    sim_meters: dict[str, SimulatedMeter]


@asynccontextmanager
async def live_fleet(
    tmp_path: Path, table: dict[str, object] | None = None
) -> AsyncIterator[LiveFleet]:
    """The engine collecting from its simulated bus until the block ends; ``table`` may add
    channels and meters to ``fleet_table()`` (its m1 and m2 are the simulated DL/T 645 ones)."""
    config = parse_fleet_config(table or fleet_table(), "api-test")
    clock = WarpedClock(START, speed=SPEED)
    network = MemoryNetwork()
    values = {meter_id: meter_values(229.0 + index) for index, meter_id in enumerate(METERS)}
    sim_meters = {
        meter_id: SimulatedMeter(
            SimulatedMeterConfig(address, StaticSource(values[meter_id]), reply_delay=0.002)
        )
        for meter_id, address in METERS.items()
    }
    bus = MeterBus(
        list(sim_meters.values()),
        SerialSettings("sim", baud=115200, parity=Parity.NONE),
        clock=clock.now,
    )
    device_end = network.listen("bus-1")  # before the engine connects to memory://bus-1
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        config,
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(jitter=0, writer_interval=0.05, audit_path=tmp_path / "audit.jsonl"),
    )
    fleet = LiveFleet(engine, store, bus, values, sim_meters)
    try:
        async with asyncio.TaskGroup() as group:
            simulator = group.create_task(bus.serve(TransportLink(device_end)))
            engine_task = group.create_task(engine.run())
            await engine.ready.wait()
            try:
                yield fleet
            finally:
                engine_task.cancel()
                simulator.cancel()
    finally:
        await store.aclose()


async def next_reading(
    engine: Engine, meter: str, quantity: str, *, value: float | None = None
) -> Reading:
    """The next collected reading of this meter and quantity (with this value, if given)."""
    queue = engine.live.subscribe()
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                reading = await queue.get()
                if (reading.meter, reading.quantity) != (meter, quantity):
                    continue
                if value is None or reading.value == value:
                    return reading
    finally:
        engine.live.unsubscribe(queue)


async def raise_low_voltage(fleet: LiveFleet, meter: str) -> None:
    """Drive ``meter`` below the band until the engine's own sweeps raise its voltage_low alarm
    (the anomaly detector needs the condition to hold for a minute of engine time)."""
    fleet.values[meter]["voltage_a"] = 180.0
    async with asyncio.timeout(4 * WAIT_SECONDS):
        while not any(
            (alarm.kind, alarm.subject) == ("voltage_low", meter)
            for alarm in fleet.engine.alarms.open_alarms()
        ):
            await next_reading(fleet.engine, meter, "voltage_a", value=180.0)
            fleet.engine.sweeps.sweep()
