"""The MQTT bridge against a real mosquitto: ingest, bad payloads, requests, restarts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from headend.mqtt.request_gate import RequestGate
from storage.records import Reading, ReadingKind
from tests.headend.mqtt.bridge_rig import (
    OPS,
    TIMEOUT_S,
    TOPIC,
    Answerer,
    running_bridge,
    telemetry,
)
from tests.support.mosquitto import MosquittoBroker


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
        assert bridge.stats.problems == {(TOPIC, "not_json"): 1}


POISON = {
    "terminal/deep/telemetry": b'{"body": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "terminal/digits/telemetry": telemetry(230.0).replace(b'"230.0"', b"7" * 5000),
    "terminal/infinity/telemetry": telemetry(230.0).replace(
        b'"2026-11-23T19:30:00.000+0800"', b"Infinity"
    ),
    "terminal/1e20/telemetry": telemetry(230.0).replace(b'"2026-11-23T19:30:00.000+0800"', b"1e20"),
    "terminal/year1/telemetry": telemetry(230.0, "0001-01-01T00:00:00+08:00"),
    "terminal/year9999/telemetry": telemetry(230.0, "9999-12-31T23:59:59+00:00"),
    "terminal/huge/telemetry": b" " * 300_000 + b"{}",
}


async def test_retained_poison_does_not_stop_ingest_and_later_data_is_taken(
    mosquitto: MosquittoBroker,
) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="attacker") as attacker:
        for topic, payload in POISON.items():
            await attacker.publish(topic, payload, qos=1, retain=True)
        await attacker.publish(TOPIC, POISON["terminal/deep/telemetry"], qos=1, retain=True)
    expected = {
        ("terminal/deep/telemetry", "too_deep"),
        ("terminal/digits/telemetry", "bad_value"),
        ("terminal/infinity/telemetry", "bad_timestamp"),
        ("terminal/1e20/telemetry", "bad_timestamp"),
        ("terminal/year1/telemetry", "bad_timestamp"),
        ("terminal/year9999/telemetry", "bad_timestamp"),
        ("terminal/huge/telemetry", "too_large"),
        (TOPIC, "too_deep"),
    }
    for _start in ("first", "again"):  # a retained message comes back at every start
        async with (
            running_bridge(mosquitto, client_id=f"headend-{_start}") as (bridge, received),
            aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
        ):
            await terminal.publish(TOPIC, telemetry(229.5), qos=1)
            async with asyncio.timeout(TIMEOUT_S):
                reading = await received.queue.get()
            assert reading.value == 229.5
            assert set(bridge.stats.problems) == expected
            assert bridge.stats.bad_by_topic[TOPIC] == 1


async def test_telemetry_sent_while_the_headend_is_down_arrives_after_restart(
    mosquitto: MosquittoBroker,
) -> None:
    async with running_bridge(mosquitto):
        pass  # the broker now holds a session for our client id
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal:
        await terminal.publish(TOPIC, telemetry(221.0, "2026-11-23T19:30:00+08:00"), qos=1)
        await terminal.publish(TOPIC, telemetry(222.0, "2026-11-23T19:31:00+08:00"), qos=1)
    async with running_bridge(mosquitto) as (_, received), asyncio.timeout(TIMEOUT_S):
        first = await received.queue.get()
        second = await received.queue.get()
    assert (first.value, second.value) == (221.0, 222.0)


async def test_a_message_not_handed_on_is_delivered_again_after_a_crash(
    mosquitto: MosquittoBroker,
) -> None:
    entered = asyncio.Event()

    async def stuck(readings: list[Reading]) -> None:
        entered.set()
        await asyncio.Event().wait()  # storage hangs; the head-end is then killed

    async with running_bridge(mosquitto, on_readings=stuck):
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t") as terminal:
            await terminal.publish(TOPIC, telemetry(225.0), qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            await entered.wait()
    async with running_bridge(mosquitto) as (_, received), asyncio.timeout(TIMEOUT_S):
        again = await received.queue.get()
    assert again.value == 225.0


async def test_readings_the_engine_refuses_are_counted_and_ingest_goes_on(
    mosquitto: MosquittoBroker,
) -> None:
    taken: asyncio.Queue[Reading] = asyncio.Queue()

    async def picky(readings: list[Reading]) -> None:
        if readings[0].value == 666.0:
            raise ValueError("reading refused")
        for reading in readings:
            taken.put_nowait(reading)

    async with (
        running_bridge(mosquitto, on_readings=picky) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
    ):
        await terminal.publish(TOPIC, telemetry(666.0), qos=1)
        await terminal.publish(TOPIC, telemetry(230.0, "2026-11-23T19:31:00+08:00"), qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            reading = await taken.get()
        assert reading.value == 230.0
        assert bridge.stats.problems == {(TOPIC, "refused_by_engine"): 1}


async def test_a_reading_the_engine_refused_is_no_duplicate_when_sent_again(
    mosquitto: MosquittoBroker,
) -> None:
    """Only a reading handed on is remembered: the same message again gets another chance."""
    taken: asyncio.Queue[Reading] = asyncio.Queue()
    calls = 0

    async def fails_once(readings: list[Reading]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("storage hiccup")
        for reading in readings:
            taken.put_nowait(reading)

    async with (
        running_bridge(mosquitto, on_readings=fails_once) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
    ):
        await terminal.publish(TOPIC, telemetry(227.0), qos=1)
        await terminal.publish(TOPIC, telemetry(227.0), qos=1)  # the terminal sends it again
        async with asyncio.timeout(TIMEOUT_S):
            reading = await taken.get()
        assert reading.value == 227.0
        assert bridge.stats.duplicates == 0
        assert bridge.stats.readings_in == 1
        assert bridge.stats.problems == {(TOPIC, "refused_by_engine"): 1}


async def test_a_redelivered_reading_is_taken_once(mosquitto: MosquittoBroker) -> None:
    async with (
        running_bridge(mosquitto) as (bridge, received),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="terminal") as terminal,
    ):
        await terminal.publish(TOPIC, telemetry(228.0), qos=1)
        await terminal.publish(TOPIC, telemetry(228.0), qos=1)  # the same reading again
        await terminal.publish(TOPIC, telemetry(229.0, "2026-11-23T19:31:00+08:00"), qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            first = await received.queue.get()
            second = await received.queue.get()
        assert (first.value, second.value) == (228.0, 229.0)
        assert received.queue.empty()
        assert bridge.stats.duplicates == 1
        assert bridge.stats.readings_in == 2


async def _answers(
    client: aiomqtt.Client, requests: Mapping[str, Mapping[str, Any] | bytes]
) -> dict[str, dict[str, Any]]:
    await client.subscribe("headend/response/+", qos=1)
    for request_id, request in requests.items():
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        await client.publish(f"headend/request/{request_id}", body, qos=1)
    answers: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(TIMEOUT_S):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            payload = json.loads(message.payload)
            answers[payload["id"]] = payload
            if len(answers) == len(requests):
                break
    return answers


async def test_readings_are_published_and_requests_answered(mosquitto: MosquittoBroker) -> None:
    answer = Answerer()
    ops = {"requester": OPS.name, "token": OPS.token}
    async with (
        running_bridge(mosquitto, answer=answer) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="operator") as client,
    ):
        await client.subscribe("headend/readings/#", qos=1)
        at = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
        freeze = Reading("m7", "energy_active_import_total", 812.5, "kWh", at, ReadingKind.FROZEN)
        bridge.publish_reading(freeze)
        bridge.publish_reading(Reading("m7", "voltage_b", 219.5, "V", at))
        topics: list[str] = []
        async with asyncio.timeout(TIMEOUT_S):
            async for message in client.messages:
                topics.append(message.topic.value)
                if len(topics) == 2:
                    assert isinstance(message.payload, bytes)
                    live = json.loads(message.payload)
                    break
        # A daily freeze shares its register's name: it goes one level down, so a subscriber
        # to readings/+/+ sees live values only.
        assert topics == [
            "headend/readings/m7/energy_active_import_total/frozen",
            "headend/readings/m7/voltage_b",
        ]
        await client.unsubscribe("headend/readings/#")
        answers = await _answers(
            client,
            {
                "r42": {"action": "read", "meter": "m1", **ops},
                "r43": {"action": "dance", **ops},
            },
        )
    assert live["value"] == 219.5
    assert live["timestamp"] == "2026-11-23T11:30:00+00:00"
    assert answers["r42"]["ok"] is True
    assert answers["r42"]["readings"][0]["meter"] == "m1"
    assert answers["r43"]["ok"] is False
    assert "dance" in answers["r43"]["error"]
    assert bridge.stats.requests == 2
    assert answer.requesters == ["ops", "ops"]


async def test_requests_without_an_allowed_identity_are_refused_and_counted(
    mosquitto: MosquittoBroker,
) -> None:
    answer = Answerer()
    read = {"action": "read", "meter": "m1"}
    async with (
        running_bridge(mosquitto, answer=answer) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="stranger") as client,
    ):
        answers = await _answers(
            client,
            {
                "anonymous": read,
                "unknown": {**read, "requester": "mallory", "token": OPS.token},
                "wrong-token": {**read, "requester": "ops", "token": "guessed-0123456789"},
                "no-token": {**read, "requester": "ops"},
                "garbage": b"[" * 100_000,
            },
        )
    assert answer.requesters == []  # nothing reached the buses
    assert {k: (a["ok"], a["refused"]) for k, a in answers.items()} == {
        "anonymous": (False, "unknown_requester"),
        "unknown": (False, "unknown_requester"),
        "wrong-token": (False, "bad_token"),
        "no-token": (False, "bad_token"),
        "garbage": (False, "bad_request"),
    }
    assert bridge.stats.requests == 0
    assert bridge.stats.refused_requests == {
        ("unknown_requester", "?"): 2,  # "mallory" is logged, not made a metric label
        ("bad_token", "ops"): 2,
        ("bad_request", "?"): 1,
    }


async def test_requests_beyond_the_rate_limit_are_refused(mosquitto: MosquittoBroker) -> None:
    answer = Answerer()
    frozen = RequestGate((OPS,), rate=1.0, burst=2, clock=lambda: 0.0)  # no time passes
    ops = {"action": "read", "meter": "m1", "requester": OPS.name, "token": OPS.token}
    async with (
        running_bridge(mosquitto, answer=answer, gate=frozen) as (bridge, _),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="operator") as client,
    ):
        answers = await _answers(client, {"a": ops, "b": ops, "c": ops})
    assert [answers[k]["ok"] for k in "abc"] == [True, True, False]
    assert answers["c"]["refused"] == "rate_limited"
    assert answer.requesters == ["ops", "ops"]
    assert bridge.stats.refused_requests == {("rate_limited", "ops"): 1}


async def test_survives_a_broker_restart_without_duplicates(mosquitto: MosquittoBroker) -> None:
    async with running_bridge(mosquitto) as (bridge, received):
        assert bridge.stats.connections == 1
        bridge.connected.clear()
        await asyncio.to_thread(mosquitto.restart)
        async with asyncio.timeout(TIMEOUT_S):
            await bridge.connected.wait()
        assert bridge.stats.connections == 2
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="t2") as terminal:
            await terminal.publish(TOPIC, telemetry(228.0, "2026-11-23T19:30:00+08:00"), qos=1)
            await terminal.publish(TOPIC, telemetry(229.0, "2026-11-23T19:31:00+08:00"), qos=1)
            first = await received.queue.get()
            second = await received.queue.get()
        assert (first.value, second.value) == (228.0, 229.0)  # each once, in order
        assert received.queue.empty()
