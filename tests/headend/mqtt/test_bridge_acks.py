"""Pipelined ingest against a real mosquitto: a message is acknowledged only once its readings
are stored, in the order the messages came, with a bounded number unacknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from headend.bus.backoff import Backoff
from headend.config.mqtt import MqttConfig
from headend.mqtt.bridge import MqttBridge, PubackBatch, Stored
from storage.embedded import SqliteStore
from storage.errors import StorageFull
from storage.records import Reading, ReadingKind
from tests.headend.mqtt.bridge_rig import TOPIC, bridge_config, telemetry
from tests.headend.mqtt.engine_rig import next_terminal_reading, running_engine
from tests.headend.mqtt.engine_rig import telemetry as engine_telemetry
from tests.support.mosquitto import MosquittoBroker

TIMEOUT_S = 10.0


def stamp(minute: int) -> str:
    return f"2026-11-23T19:{minute:02d}:00+08:00"


class Holding:
    """A ``store_readings`` that keeps each hand-on until the test says it is stored."""

    def __init__(self) -> None:
        self.held: list[tuple[list[Reading], Stored]] = []
        self.unsettled = 0
        self.most_unsettled = 0
        self.changed = asyncio.Condition()

    def __call__(self, readings: list[Reading], stored: Stored) -> None:
        self.held.append((readings, stored))
        self.unsettled += 1
        self.most_unsettled = max(self.most_unsettled, self.unsettled)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(TIMEOUT_S), self.changed:
            await self.changed.wait_for(lambda: len(self.held) >= count)

    def settle(self, index: int, stored: bool = True) -> None:
        self.unsettled -= 1
        self.held[index][1](stored)


@pytest.fixture
def acked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Packet ids of the PUBACKs sent, in order (as the bridge hands them to its connection's
    ``PubackBatch``, which writes them; test_frames checks they reach the broker)."""
    mids: list[int] = []
    ack = PubackBatch.ack

    def recording(batch: PubackBatch, mid: int, qos: int) -> Any:
        mids.append(mid)
        return ack(batch, mid, qos)

    monkeypatch.setattr(PubackBatch, "ack", recording)
    return mids


@asynccontextmanager
async def pipelined_bridge(
    broker: MosquittoBroker, store: Any, **options: Any
) -> AsyncIterator[MqttBridge]:
    bridge = MqttBridge(
        bridge_config(broker),
        transformer_of_device={"TTU_T1": "T1"},
        store_readings=store,
        reconnect=Backoff(0.05, 0.2),
        **options,
    )
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bridge.run())
        async with asyncio.timeout(TIMEOUT_S):
            await bridge.connected.wait()
        yield bridge
        task.cancel()


async def test_acks_follow_the_order_of_the_messages_and_a_bad_one_waits_its_turn(
    mosquitto: MosquittoBroker, acked: list[int]
) -> None:
    store = Holding()
    async with (
        pipelined_bridge(mosquitto, store) as bridge,
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
    ):
        await terminal.publish(TOPIC, telemetry(230.0, stamp(30)), qos=1)
        await terminal.publish(TOPIC, b"{not json", qos=1)
        await terminal.publish(TOPIC, telemetry(231.0, stamp(31)), qos=1)
        await store.wait_for(2)  # the third message was taken while the first is not stored
        assert bridge.stats.problems == {(TOPIC, "not_json"): 1}
        assert acked == []  # the bad message is settled, but after one still committing
        store.settle(1)
        assert acked == []  # the third is stored, but the first is not yet
        store.settle(0)
        assert len(acked) == 3
        assert acked == sorted(acked)  # in the order the broker sent them
        assert bridge.stats.readings_in == 2


async def test_at_most_max_unacked_messages_are_in_flight(
    mosquitto: MosquittoBroker, acked: list[int]
) -> None:
    store = Holding()
    async with (
        pipelined_bridge(mosquitto, store, max_unacked=3),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
    ):
        for minute in range(7):
            await terminal.publish(TOPIC, telemetry(230.0 + minute, stamp(minute)), qos=1)
        for index in range(7):
            await store.wait_for(min(index + 3, 7))
            store.settle(index)
        assert [r.value for readings, _ in store.held for r in readings] == [
            230.0 + minute for minute in range(7)
        ]
    assert store.most_unsettled == 3  # pipelined, and never more than the bound
    assert len(acked) == 7


async def test_a_message_not_stored_when_the_headend_dies_is_delivered_again(
    mosquitto: MosquittoBroker, acked: list[int]
) -> None:
    store = Holding()
    async with pipelined_bridge(mosquitto, store):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
            await terminal.publish(TOPIC, telemetry(225.0), qos=1)
        await store.wait_for(1)  # received, handed to storage, never committed: then killed
    assert acked == []
    again = Holding()
    async with pipelined_bridge(mosquitto, again):
        await again.wait_for(1)
        again.settle(0)
    assert [r.value for r in again.held[0][0]] == [225.0]
    assert len(acked) == 1


async def test_readings_the_writer_drops_are_not_acknowledged_and_come_again(
    mosquitto: MosquittoBroker, acked: list[int]
) -> None:
    store = Holding()
    async with pipelined_bridge(mosquitto, store) as bridge:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
            await terminal.publish(TOPIC, telemetry(226.0), qos=1)
        await store.wait_for(1)
        store.settle(0, stored=False)  # e.g. the writer's buffer overflowed
        assert acked == []
        await store.wait_for(2)  # the bridge reconnected and the broker sent it again
        store.settle(1)
        assert [r.value for readings, _ in store.held for r in readings] == [226.0, 226.0]
        assert bridge.stats.not_stored == 1
        assert bridge.stats.duplicates == 0
    assert len(acked) == 1


async def test_while_storage_refuses_writes_nothing_is_acknowledged(
    mosquitto: MosquittoBroker, tmp_path: Path, acked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine with a full disk: the message stays with the broker, through a restart."""
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    refused = asyncio.Event()
    write = store.write

    async def full(batch: Any) -> None:
        if any(isinstance(r, Reading) and r.meter == "TTU_T1" for r in batch):
            refused.set()
            raise StorageFull("disk full")
        await write(batch)

    try:
        monkeypatch.setattr(store, "write", full)
        async with running_engine(mosquitto, store, tmp_path):
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
                await terminal.publish(TOPIC, engine_telemetry(234.0, 33), qos=1)
            async with asyncio.timeout(TIMEOUT_S):
                await refused.wait()
        assert acked == []
        monkeypatch.setattr(store, "write", write)  # room again; the head-end starts again
        async with running_engine(mosquitto, store, tmp_path) as (_, live):
            again = await next_terminal_reading(live)
        stored = await store.stored_points(
            ReadingKind.INSTANT,
            ["TTU_T1"],
            ["voltage_a"],
            datetime(2026, 11, 23, tzinfo=UTC),
            datetime(2026, 11, 24, tzinfo=UTC),
        )
    finally:
        await store.aclose()
    assert again.value == 234.0
    assert [p.value for p in stored] == [234.0]
    assert len(acked) == 1


def test_a_bridge_takes_exactly_one_way_of_handing_readings_on() -> None:
    config = MqttConfig(host="localhost", port=1883, ingest_topics=("terminal/+/telemetry",))
    with pytest.raises(ValueError, match="exactly one of on_readings and store_readings"):
        MqttBridge(config, transformer_of_device={})
