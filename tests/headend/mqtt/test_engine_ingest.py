"""Terminal telemetry through the real engine into the real store, across a poison message
and a head-end restart (real mosquitto, embedded SQLite store)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client
import pytest

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import TransportLink
from storage.embedded import SqliteStore
from storage.records import Reading, ReadingKind
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


async def next_terminal_reading(live: asyncio.Queue[Reading]) -> Reading:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            reading = await live.get()
            if reading.meter == "TTU_T1" and reading.quantity == "voltage_a":
                return reading


async def test_poison_and_restart_lose_no_terminal_reading(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="attacker") as attacker:
        await attacker.publish(TOPIC, POISON, qos=1, retain=True)
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        async with running_engine(mosquitto, store, tmp_path) as (engine, live):
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
                await terminal.publish(TOPIC, telemetry(231.0, 30), qos=1)
                first = await next_terminal_reading(live)
            assert engine.mqtt is not None
            assert engine.mqtt.stats.problems == {(TOPIC, "too_deep"): 1}
        # The head-end is down: the broker keeps this for its session.
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
            await terminal.publish(TOPIC, telemetry(232.0, 31), qos=1)
        async with running_engine(mosquitto, store, tmp_path) as (engine, live):
            second = await next_terminal_reading(live)  # queued by the broker while we were down
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
                await terminal.publish(TOPIC, telemetry(233.0, 32), qos=1)
                third = await next_terminal_reading(live)  # after the retained poison, again
            assert engine.mqtt is not None
            assert engine.mqtt.stats.problems == {(TOPIC, "too_deep"): 1}
        stored = await store.stored_points(
            ReadingKind.INSTANT,
            ["TTU_T1"],
            ["voltage_a", "power_active_total"],
            datetime(2026, 11, 23, tzinfo=UTC),
            datetime(2026, 11, 24, tzinfo=UTC),
        )
    finally:
        await store.aclose()
    assert (first.value, second.value, third.value) == (231.0, 232.0, 233.0)
    minute = timedelta(minutes=1)
    at = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
    assert [(p.quantity, p.timestamp, p.value, p.unit) for p in stored] == [
        ("power_active_total", at, 52.0, "kW"),
        ("power_active_total", at + minute, 52.0, "kW"),
        ("power_active_total", at + 2 * minute, 52.0, "kW"),
        ("voltage_a", at, 231.0, "V"),
        ("voltage_a", at + minute, 232.0, "V"),
        ("voltage_a", at + 2 * minute, 233.0, "V"),
    ]


async def test_a_message_is_acknowledged_only_once_its_readings_are_on_disk(
    mosquitto: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acknowledged means durable: what the broker forgets (it had the ack) survives a kill -9.

    The store file is read through its own connection at the moment of each ack, so only
    committed rows count."""
    path = tmp_path / "store.sqlite"
    rows_at_ack: list[int] = []
    three_acked = asyncio.Event()
    ack = paho.mqtt.client.Client.ack

    def ack_after_looking(client: paho.mqtt.client.Client, mid: int, qos: int) -> Any:
        with contextlib.closing(sqlite3.connect(path)) as db:
            (rows,) = db.execute("SELECT count(*) FROM points WHERE meter = 'TTU_T1'").fetchone()
        rows_at_ack.append(rows)
        if len(rows_at_ack) == 3:
            three_acked.set()
        return ack(client, mid, qos)

    monkeypatch.setattr(paho.mqtt.client.Client, "ack", ack_after_looking)
    store = await SqliteStore.open(path)
    try:
        async with running_engine(mosquitto, store, tmp_path):
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
                for minute in (30, 31, 32):
                    await terminal.publish(TOPIC, telemetry(230.0, minute), qos=1)
            async with asyncio.timeout(TIMEOUT_S):
                await three_acked.wait()
    finally:
        await store.aclose()
    assert rows_at_ack == [2, 4, 6]  # voltage and power of each message, committed before its ack
