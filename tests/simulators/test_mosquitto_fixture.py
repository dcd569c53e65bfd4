"""The broker fixture itself: reachable, stoppable, restartable on the same port."""

from __future__ import annotations

import asyncio
import socket

import aiomqtt

from tests.support.mosquitto import MosquittoBroker


def _accepts(broker: MosquittoBroker) -> bool:
    try:
        with socket.create_connection((broker.host, broker.port), timeout=1.0):
            return True
    except OSError:
        return False


async def test_broker_round_trips_a_message(mosquitto: MosquittoBroker) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe("fixture/echo", qos=1)
        await client.publish("fixture/echo", b"hello", qos=1)
        async with asyncio.timeout(5):
            message = await anext(aiter(client.messages))
        assert message.payload == b"hello"


def test_stop_and_restart_keep_the_port(mosquitto: MosquittoBroker) -> None:
    port = mosquitto.port
    mosquitto.stop()
    assert not mosquitto.running
    assert not _accepts(mosquitto)
    mosquitto.restart()
    assert mosquitto.running
    assert mosquitto.port == port
    assert _accepts(mosquitto)
