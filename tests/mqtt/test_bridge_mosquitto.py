"""The MQTT bridge against a real mosquitto: ingest, bad payloads, requests, broker restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from headend.backoff import Backoff
from headend.fleet_config import DEFAULT_TERMINAL_NAMES, MqttConfig
from headend.mqtt.bridge import MqttBridge
from headend.readings import Reading
from tests.support.mosquitto import MosquittoBroker

TOPIC = "terminal/TTU_T1/telemetry"


def telemetry(voltage: float) -> bytes:
    return json.dumps(
        {
            "token": "1",
            "timestamp": "2026-11-23T19:30:00.000+0800",
            "body": [{"dev": "TTU_T1", "body": [{"name": "PhV_phsA", "val": str(voltage)}]}],
        }
    ).encode()


class Received:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()

    async def __call__(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.queue.put_nowait(reading)


async def answer(request: Mapping[str, Any]) -> Mapping[str, Any]:
    if request.get("action") != "read":
        raise ValueError(f"unknown action {request.get('action')!r}")
    return {"readings": [{"meter": request["meter"], "quantity": "voltage_a", "value": 230.0}]}


@asynccontextmanager
async def running_bridge(broker: MosquittoBroker) -> AsyncIterator[tuple[MqttBridge, Received]]:
    config = MqttConfig(
        host=broker.host,
        port=broker.port,
        client_id="headend-test",
        ingest_topics=("terminal/+/telemetry",),
        publish_prefix="headend",
        names=DEFAULT_TERMINAL_NAMES,
    )
    received = Received()
    bridge = MqttBridge(
        config,
        transformer_of_device={"TTU_T1": "T1"},
        on_readings=received,
        on_request=answer,
        reconnect=Backoff(0.05, 0.2),
    )
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bridge.run())
        await bridge.connected.wait()
        yield bridge, received
        task.cancel()


async def test_ingest_and_bad_payloads(mosquitto: MosquittoBroker) -> None:
    async with (
        running_bridge(mosquitto) as (bridge, received),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
    ):
        await terminal.publish(TOPIC, b"{not json", qos=1)
        await terminal.publish(TOPIC, telemetry(231.5), qos=1)
        reading = await received.queue.get()
        assert reading.meter == "TTU_T1"
        assert reading.value == 231.5
        assert reading.tags["transformer"] == "T1"
        assert bridge.stats.bad_payloads == 1
        assert bridge.stats.bad_by_topic == {TOPIC: 1}


async def test_readings_are_published_and_requests_answered(mosquitto: MosquittoBroker) -> None:
    async with (
        running_bridge(mosquitto) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="operator") as client,
    ):
        await client.subscribe("headend/response/+", qos=1)
        await client.subscribe("headend/readings/#", qos=1)
        bridge.publish_reading(
            Reading("m7", "voltage_b", 219.5, "V", datetime(2026, 11, 23, 11, 30, tzinfo=UTC))
        )
        await client.publish(
            "headend/request/r42", json.dumps({"action": "read", "meter": "m1"}), qos=1
        )
        await client.publish("headend/request/r43", b'{"action": "dance"}', qos=1)
        answers: dict[str, Any] = {}
        live: list[dict[str, Any]] = []
        async for message in client.messages:
            payload = json.loads(message.payload)
            if message.topic.matches("headend/readings/#"):
                assert message.topic.value == "headend/readings/m7/voltage_b"
                live.append(payload)
            else:
                answers[payload["id"]] = payload
            if len(answers) == 2 and live:
                break
    assert live[0]["value"] == 219.5
    assert live[0]["timestamp"] == "2026-11-23T11:30:00+00:00"
    assert answers["r42"]["ok"] is True
    assert answers["r42"]["readings"][0]["meter"] == "m1"
    assert answers["r43"]["ok"] is False
    assert "dance" in answers["r43"]["error"]
    assert bridge.stats.requests == 2


async def test_survives_a_broker_restart_without_duplicates(mosquitto: MosquittoBroker) -> None:
    async with running_bridge(mosquitto) as (bridge, received):
        assert bridge.stats.connections == 1
        bridge.connected.clear()
        await asyncio.to_thread(mosquitto.restart)
        await bridge.connected.wait()
        assert bridge.stats.connections == 2
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t2") as terminal:
            await terminal.publish(TOPIC, telemetry(228.0), qos=1)
            await terminal.publish(TOPIC, telemetry(229.0), qos=1)
            first = await received.queue.get()
            second = await received.queue.get()
        assert (first.value, second.value) == (228.0, 229.0)  # each once, in order
        assert received.queue.empty()
