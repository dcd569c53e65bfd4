"""The MQTT bridge on a real mosquitto, for the bridge and ACL tests: its config, a running
bridge with a collecting reading handler and a request answerer, and a terminal's telemetry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from headend.bus.backoff import Backoff
from headend.config.mqtt import MqttConfig, Requester
from headend.mqtt.bridge import MqttBridge, ReadingHandler
from headend.mqtt.request_gate import RequestGate
from storage.records import Reading
from tests.support.mosquitto import MosquittoBroker

TOPIC = "terminal/TTU_T1/telemetry"
OPS = Requester("ops", "ops-secret-0123456789")
TIMEOUT_S = 10.0


def telemetry(voltage: float, stamp: str = "2026-11-23T19:30:00.000+0800") -> bytes:
    return json.dumps(
        {
            "token": "1",
            "timestamp": stamp,
            "body": [{"dev": "TTU_T1", "body": [{"name": "PhV_phsA", "val": str(voltage)}]}],
        }
    ).encode()


class Received:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()

    async def __call__(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.queue.put_nowait(reading)


class Answerer:
    def __init__(self) -> None:
        self.requesters: list[str] = []

    async def __call__(self, request: Mapping[str, Any], requester: str) -> Mapping[str, Any]:
        self.requesters.append(requester)
        if request.get("action") != "read":
            raise ValueError(f"unknown action {request.get('action')!r}")
        return {"readings": [{"meter": request["meter"], "quantity": "voltage_a", "value": 230.0}]}


def bridge_config(broker: MosquittoBroker, **overrides: Any) -> MqttConfig:
    settings: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "client_id": "headend-test",
        "ingest_topics": ("terminal/+/telemetry",),
        "publish_prefix": "headend",
        "requesters": (OPS,),
    }
    settings.update(overrides)
    return MqttConfig(**settings)


@asynccontextmanager
async def running_bridge(
    broker: MosquittoBroker,
    on_readings: ReadingHandler | None = None,
    *,
    answer: Answerer | None = None,
    gate: RequestGate | None = None,
    devices: Mapping[str, str] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[MqttBridge, Received]]:
    received = Received()
    bridge = MqttBridge(
        bridge_config(broker, **overrides),
        transformer_of_device=devices or {"TTU_T1": "T1"},
        on_readings=on_readings or received,
        on_request=answer or Answerer(),
        reconnect=Backoff(0.05, 0.2),
        gate=gate,
    )
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bridge.run())
        async with asyncio.timeout(TIMEOUT_S):
            await bridge.connected.wait()
        yield bridge, received
        task.cancel()
