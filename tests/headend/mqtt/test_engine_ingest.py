"""Terminal telemetry through the real engine into the real store, across a poison message
and a head-end restart (real mosquitto, embedded SQLite store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from storage.embedded import SqliteStore
from storage.records import ReadingKind
from tests.headend.mqtt.engine_rig import (
    POISON,
    TOPIC,
    AckSpy,
    next_terminal_reading,
    running_engine,
    telemetry,
)
from tests.support.mosquitto import MosquittoBroker


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
    acks = AckSpy(path, monkeypatch)
    store = await SqliteStore.open(path)
    try:
        async with (
            running_engine(mosquitto, store, tmp_path),
            aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal,
        ):
            # One at a time (the next once the previous is acknowledged): many messages
            # arriving together are committed together (test_a_burst_... below).
            for count, minute in enumerate((30, 31, 32), start=1):
                await terminal.publish(TOPIC, telemetry(230.0, minute), qos=1)
                await acks.wait_for(count)
    finally:
        await store.aclose()
    assert acks.rows == [2, 4, 6]  # voltage and power of each message, committed before its ack
