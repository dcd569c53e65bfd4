"""The engine against two simulated DL/T 645 meters on an in-memory RS-485 bus, with its store.

Shared by the engine, collection, MQTT and storage tests: the fleet document, the simulated
bus (values ramping from ``START``), and ``running_rig``, the engine collecting from that bus
(the ``rig`` fixture of tests/support/fixtures.py takes its faults from ``indirect``
parametrisation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import (
    FaultScript,
    MeterBus,
    MeterKind,
    RampingSource,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    TransportLink,
)
from storage.embedded import SqliteStore
from storage.records import Reading
from transports.memory import MemoryNetwork
from transports.settings import Parity, SerialSettings

START = datetime(2026, 11, 23, 11, 0, 30, tzinfo=UTC)  # 19:00:30 in Shanghai: evening peak
M1, M2 = "000000000001", "000000000002"
VOLTAGES = {"voltage_a": 231.2, "voltage_b": 229.8, "voltage_c": 230.5, "current_a": 12.5}


def two_meter_fleet() -> dict[str, object]:
    """Meters ``M1`` and ``M2`` on channel ``bus-1`` (memory://bus-1): voltages every minute,
    energy every 15 minutes in the billing lane, five days of daily frozen values."""
    return {
        "site": {"name": "test", "timezone": "Asia/Shanghai"},
        "channels": [
            {
                "name": "bus-1",
                "url": "memory://bus-1",
                "timeout": "300ms",
                "inter_frame_gap": "1ms",
                "retries": 1,
                "retry_backoff": "5ms",
            }
        ],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "clock": {"drift_threshold": "30s"},
        "plans": {
            "flat": {
                "daily_frozen": True,
                "backfill_days": 5,
                "reads": [
                    {
                        "quantities": ["voltage_a", "voltage_b", "voltage_c", "current_a"],
                        "interval": "1m",
                    },
                    {
                        "quantities": ["energy_active_import_total"],
                        "interval": "15m",
                        "lane": "billing",
                    },
                ],
            }
        },
        "meters": [
            {
                "address": M1,
                "channel": "bus-1",
                "plan": "flat",
                "transformer": "T1",
                "building": "B1",
                "phase": "ABC",
                "control": "plaintext",  # the simulated meters have no ESAM
            },
            {
                "address": M2,
                "channel": "bus-1",
                "plan": "flat",
                "transformer": "T1",
                "building": "B1",
                "phase": "ABC",
                "control": "plaintext",  # the simulated meters have no ESAM
            },
        ],
    }


@dataclass
class Rig:
    engine: Engine
    bus: MeterBus
    store: SqliteStore
    live: asyncio.Queue[Reading]


def fast_bus(
    clock: Callable[[], datetime],
    faults: Sequence[ScheduledFault],
    addresses: Sequence[str] = (M1, M2),
) -> MeterBus:
    """Three-phase meters answering within 2 ms at 115200 baud (energy ramps from 10 days
    before ``START``), sharing one fault script."""
    source = RampingSource(START - timedelta(days=10), 1000.0, 2.0, values=VOLTAGES)
    script = FaultScript(list(faults))
    meters = [
        SimulatedMeter(
            SimulatedMeterConfig(
                address, source, kind=MeterKind.THREE_PHASE, meter_id=address, reply_delay=0.002
            ),
            faults=script,
        )
        for address in addresses
    ]
    settings = SerialSettings("sim", baud=115200, parity=Parity.NONE)
    return MeterBus(meters, settings, clock=clock, faults=script, name="bus-1")


@asynccontextmanager
async def running_rig(
    tmp_path: Path,
    faults: Sequence[ScheduledFault] = (),
    fleet: dict[str, object] | None = None,
) -> AsyncIterator[Rig]:
    """The engine collecting from ``fast_bus`` at 60x simulated time; cancelled at the end.
    ``fleet``: another fleet document for the same two meters (``two_meter_fleet``'s)."""
    clock = WarpedClock(START, speed=60)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, faults)
    device_end = network.listen("bus-1")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(fleet or two_meter_fleet(), "test"),
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(
            jitter=0, offline_after=2, maintenance=False, audit_path=tmp_path / "audit.jsonl"
        ),
    )
    live = engine.live.subscribe()
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        yield Rig(engine, bus, store, live)
        runner.cancel()
        server.cancel()
    await store.aclose()


async def collect(
    live: asyncio.Queue[Reading], predicate: Callable[[list[Reading]], bool]
) -> list[Reading]:
    """Readings from ``live`` until ``predicate`` holds for all seen so far."""
    seen: list[Reading] = []
    async with asyncio.timeout(60):  # a broken engine fails the test instead of hanging it
        while not predicate(seen):
            seen.append(await live.get())
    return seen
