"""The engine with a terminal on a real mosquitto, shared by the MQTT ingest and ack tests:
its fleet, the running engine, the acknowledgement spy and the telemetry it sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from headend.mqtt.bridge import PubackBatch
from simulators.dlt645 import TransportLink
from storage.embedded import SqliteStore
from storage.records import Reading
from tests.support.engine_rig import START, fast_bus, two_meter_fleet
from tests.support.mosquitto import MosquittoBroker
from transports.memory import MemoryNetwork

TOPIC = "terminal/TTU_T1/telemetry"
TIMEOUT_S = 20.0
POISON = b'{"body": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def telemetry(voltage: float, minute: int) -> bytes:
    stamp = f"2026-11-23T19:{minute:02d}:00+08:00"
    items = [{"name": "PhV_phsA", "val": str(voltage)}, {"name": "TotW", "val": "52000"}]
    return json.dumps({"timestamp": stamp, "body": [{"dev": "TTU_T1", "body": items}]}).encode()


def config(broker: MosquittoBroker) -> dict[str, Any]:
    document = two_meter_fleet()
    document["transformers"] = [{"name": "T1", "rated_kva": 400, "terminal": "TTU_T1"}]
    document["mqtt"] = {
        "host": broker.host,
        "port": broker.port,
        "ingest_topics": ["terminal/+/telemetry"],
    }
    return document


@asynccontextmanager
async def running_engine(
    broker: MosquittoBroker, store: SqliteStore, tmp_path: Path
) -> AsyncIterator[tuple[Engine, asyncio.Queue[Reading]]]:
    clock = WarpedClock(START, speed=60)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, [])
    device_end = network.listen("bus-1")
    engine = Engine(
        parse_fleet_config(config(broker), "test"),
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(jitter=0, maintenance=False, audit_path=tmp_path / "audit.jsonl"),
    )
    assert engine.mqtt is not None
    live = engine.live.subscribe()
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        runner = group.create_task(engine.run())
        async with asyncio.timeout(TIMEOUT_S):
            await engine.mqtt.connected.wait()
        try:
            yield engine, live
            assert not runner.done()  # the poison did not stop it
        finally:
            engine.stop()
            async with asyncio.timeout(TIMEOUT_S):
                await runner  # graceful: the writer flushes to the store
            server.cancel()


class AckSpy:
    """Wraps the bridge's PUBACK (``PubackBatch.ack``): at each one, counts the rows committed
    in the store file (through its own connection, so only committed rows count) and notes the
    packet id."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows: list[int] = []
        self.mids: list[int] = []
        self._changed = asyncio.Condition()
        ack = PubackBatch.ack

        def ack_after_looking(batch: PubackBatch, mid: int, qos: int) -> Any:
            with contextlib.closing(sqlite3.connect(path)) as db:
                (rows,) = db.execute(
                    "SELECT count(*) FROM point_rows WHERE meter = 'TTU_T1'"
                ).fetchone()
            self.rows.append(rows)
            self.mids.append(mid)
            asyncio.get_running_loop().create_task(self._notify())
            return ack(batch, mid, qos)

        monkeypatch.setattr(PubackBatch, "ack", ack_after_looking)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT_S), self._changed:
            await self._changed.wait_for(lambda: len(self.rows) >= count)


async def next_terminal_reading(live: asyncio.Queue[Reading]) -> Reading:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            reading = await live.get()
            if reading.meter == "TTU_T1" and reading.quantity == "voltage_a":
                return reading
