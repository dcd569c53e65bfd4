"""A head-end that collects billing data the way production does, for billing API tests.

Real engine, real backfill, real DL/T 645 simulators (energy registers that grow, daily freezes
at local midnight) on an in-memory RS-485 bus, the real embedded store and the HTTP API on top.
Nothing is written to the store by hand: what billing answers is what the producers stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from headend.api import create_app
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import (
    MeterBus,
    RampingSource,
    SimulatedMeter,
    SimulatedMeterConfig,
    TransportLink,
)
from storage.embedded import SqliteStore
from storage.records import Reading, ReadingKind
from tests.headend.api.fleet import TOKENS, household_meters
from transports import Parity, SerialSettings
from transports.memory import MemoryNetwork

START = datetime(2026, 3, 10, 4, 0, 0, tzinfo=UTC)
"""12:00 in Shanghai: the local day is 2026-03-10."""
ENERGY_SINCE = START - timedelta(days=10)
"""The simulated registers start growing here, so the last ten freezes all exist."""
SIMULATED = {"m1": "000000000001", "m2": "000000000002"}
NEVER_READ = "m3"
"""Registered under T1 at an address nobody answers: the registry knows it, the store never will."""
WAIT_SECONDS = 30.0


BILLED = ("energy_active_import_total",)
TARIFF_ENERGY = {f"energy_active_import_t{n}": 100.0 * n + 0.25 for n in range(1, 5)}
"""What the simulated meters' four tariff registers hold (the ground truth of tariff reads)."""


def billing_fleet_table(
    building: str = "B1",
    *,
    quantities: tuple[str, ...] = BILLED,
    tariff_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    addresses = {**SIMULATED, NEVER_READ: "000000000099"}
    meters = household_meters(addresses, lambda _: building)
    site: dict[str, Any] = {"name": "billing-test", "timezone": "Asia/Shanghai"}
    if tariff_names is not None:
        site["tariff_names"] = tariff_names
    return {
        "site": site,
        "channels": [
            {
                "name": "bus-1",
                "url": "memory://bus-1",
                "protocol": "dlt645-2007",
                "timeout": "200ms",
                "inter_frame_gap": "1ms",
                "retries": 0,
                "retry_backoff": "10ms",
            }
        ],
        "transformers": [{"name": "T1", "rated_kva": 100}, {"name": "T2", "rated_kva": 100}],
        "plans": {
            "home": {
                "daily_frozen": True,
                "backfill_days": 3,
                "reads": [
                    {
                        "quantities": list(quantities),
                        "interval": "1m",
                        "lane": "billing",
                    },
                ],
            }
        },
        "meters": meters,
    }


def source_of(index: int) -> RampingSource:
    return RampingSource(ENERGY_SINCE, 1000.0 * (index + 1), 2.0 + index, values=TARIFF_ENERGY)


@dataclass(slots=True)
class BillingRig:
    engine: Engine
    store: SqliteStore
    http: httpx.AsyncClient
    sources: dict[str, RampingSource]
    app: FastAPI


@asynccontextmanager
async def billing_rig(
    tmp_path: Path,
    *,
    building: str = "B1",
    quantities: tuple[str, ...] = BILLED,
    tariff_names: dict[str, str] | None = None,
) -> AsyncIterator[BillingRig]:
    """The engine collecting (maintenance off: tests drive backfill) and a client on its API."""
    table = billing_fleet_table(building, quantities=quantities, tariff_names=tariff_names)
    config = parse_fleet_config(table, str(tmp_path / "fleet.toml"))
    clock = WarpedClock(START, speed=60.0)
    network = MemoryNetwork()
    sources = {meter_id: source_of(index) for index, meter_id in enumerate(SIMULATED)}
    bus = MeterBus(
        [
            SimulatedMeter(SimulatedMeterConfig(address, sources[meter_id], reply_delay=0.001))
            for meter_id, address in SIMULATED.items()
        ],
        SerialSettings("sim", baud=115200, parity=Parity.NONE),
        clock=clock.now,
    )
    device_end = network.listen("bus-1")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        config,
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(
            jitter=0,
            writer_interval=0.05,
            maintenance=False,
            audit_path=tmp_path / "audit.jsonl",
        ),
        history=store,
    )
    app = create_app(engine, tokens=TOKENS, store=store, dashboard_dir=None)
    try:
        async with asyncio.TaskGroup() as group:
            simulator = group.create_task(bus.serve(TransportLink(device_end)))
            engine_task = group.create_task(engine.run())
            await engine.ready.wait()
            transport = httpx.ASGITransport(app=app)
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://headend"
                ) as http:
                    yield BillingRig(engine, store, http, sources, app)
            finally:
                engine_task.cancel()
                simulator.cancel()
    finally:
        await store.aclose()


async def stored_reading(engine: Engine, meter: str, quantity: str) -> Reading:
    """The next interval reading (not a daily freeze of the same register) of this meter and
    quantity that collection produced, once stored."""
    queue = engine.live.subscribe()
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                reading = await queue.get()
                wanted = (reading.meter, reading.quantity) == (meter, quantity)
                if wanted and reading.value and reading.kind is not ReadingKind.FROZEN:
                    break
    finally:
        engine.live.unsubscribe(queue)
    await engine.writer.flush()
    return reading
