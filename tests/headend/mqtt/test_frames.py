"""The batch encoder writes exactly the bytes paho writes for the same QoS 0 publishes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from headend.mqtt.bridge import ACK_BATCH
from headend.mqtt.frames import PUBACK, append_puback, append_publish, publishable
from storage.records import Reading
from tests.headend.mqtt.bridge_rig import TIMEOUT_S, TOPIC, running_bridge, telemetry
from tests.support.mosquitto import MosquittoBroker


def paho_bytes(topic: str, payload: bytes) -> bytes:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sent: list[bytes] = []

    def capture(command: int, packet: bytes, mid: int, qos: int, info: object = None) -> int:
        sent.append(bytes(packet))
        return 0

    client._packet_queue = capture  # type: ignore[method-assign,assignment]
    client._sock = object()  # type: ignore[assignment]  # "connected": _send_publish encodes
    try:
        client._send_publish(1, topic.encode(), payload, 0, False, False, None, None)
    finally:
        client._sock = None
    return sent[0]


@given(
    st.text(min_size=1, max_size=300).filter(publishable),
    st.binary(max_size=20_000),
)
def test_a_packet_is_the_one_paho_sends(topic: str, payload: bytes) -> None:
    buffer = bytearray()
    append_publish(buffer, topic, payload)
    assert bytes(buffer) == paho_bytes(topic, payload)


def test_packets_follow_each_other_in_one_buffer() -> None:
    buffer = bytearray()
    messages = [("headend/readings/m1/voltage_a", b'{"v":1}'), ("headend/x", b"y" * 200)]
    for topic, payload in messages:
        append_publish(buffer, topic, payload)
    assert bytes(buffer) == b"".join(paho_bytes(t, p) for t, p in messages)


@pytest.mark.parametrize("topic", ["", "a/+/b", "a/#", "a\x00b"])
def test_topics_paho_refuses_are_left_to_paho(topic: str) -> None:
    assert not publishable(topic)


def test_a_topic_too_long_is_refused_with_nothing_appended() -> None:
    buffer = bytearray(b"x")
    with pytest.raises(ValueError, match="longer than 65535 bytes"):
        append_publish(buffer, "t" * 70_000, b"")
    assert buffer == b"x"


async def test_a_backlog_of_readings_reaches_a_subscriber_whole_and_in_order(
    mosquitto: MosquittoBroker,
) -> None:
    """Published together they go out as one buffer; a subscriber sees each on its topic."""
    at = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
    readings = [Reading(f"m{n % 7}", "voltage_a", 200.0 + n, "V", at) for n in range(1200)]
    async with (
        running_bridge(mosquitto) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="viewer") as client,
    ):
        await client.subscribe("headend/readings/#", qos=0)
        for reading in readings:  # more than one batch (SEND_BATCH) at once
            bridge.publish_reading(reading)
        got: list[tuple[str, float]] = []
        async with asyncio.timeout(TIMEOUT_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                got.append((message.topic.value, json.loads(message.payload)["value"]))
                if len(got) == len(readings):
                    break
        assert bridge.stats.published == len(readings)
    assert got == [(f"headend/readings/{r.meter}/voltage_a", r.value) for r in readings]


def paho_puback(mid: int) -> bytes:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sent: list[bytes] = []

    def capture(command: int, packet: bytes, mid: int, qos: int, info: object = None) -> int:
        sent.append(bytes(packet))
        return 0

    client._packet_queue = capture  # type: ignore[method-assign,assignment]
    client._send_command_with_mid(PUBACK, mid, False)
    return sent[0]


@given(st.lists(st.integers(1, 0xFFFF), min_size=1, max_size=50))
def test_pubacks_in_one_buffer_are_the_ones_paho_sends(mids: list[int]) -> None:
    buffer = bytearray()
    for mid in mids:
        append_puback(buffer, mid)
    assert bytes(buffer) == b"".join(paho_puback(mid) for mid in mids)


@pytest.mark.parametrize("mid", [0, 0x10000, -1])
def test_a_packet_id_out_of_range_is_refused_with_nothing_appended(mid: int) -> None:
    buffer = bytearray()
    with pytest.raises(ValueError, match=f"packet id {mid}"):
        append_puback(buffer, mid)
    assert buffer == b""


def at_second(n: int) -> str:
    """A time of its own per message: the same reading twice would be dropped as a duplicate."""
    return f"2026-11-23T19:{n // 60:02d}:{n % 60:02d}.000+0800"


async def test_pubacks_written_together_reach_the_broker(mosquitto: MosquittoBroker) -> None:
    """More messages than one batch of PUBACKs, then a restart of the bridge under the same
    session: the broker sends none of them again (it has every acknowledgement), so the first
    message the new bridge gets is one published after the restart."""
    count = 2 * ACK_BATCH + 7
    async with running_bridge(mosquitto) as (_, received):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
            for n in range(count):
                await terminal.publish(TOPIC, telemetry(200.0 + n, at_second(n)), qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            values = [(await received.queue.get()).value for _ in range(count)]
    assert values == [200.0 + n for n in range(count)]
    async with running_bridge(mosquitto) as (_, received):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
            await terminal.publish(TOPIC, telemetry(199.0, at_second(count)), qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            first = await received.queue.get()
    assert first.value == 199.0
