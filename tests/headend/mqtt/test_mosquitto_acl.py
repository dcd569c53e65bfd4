"""The deployment's mosquitto config and ACLs, run for real: who may publish what.

The broker gets deploy/mosquitto/mosquitto.conf with only ports and paths rewritten, so the
test proves the shipped ACLs, not a copy of them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import aiomqtt
import pytest

from headend.mqtt.request_gate import RequestGate
from simulators.community.clock import SteppingClock
from simulators.community.model import Community
from simulators.scenario import load_scenario
from simulators.terminal.config import TerminalConfig
from simulators.terminal.simulator import TerminalSimulator
from tests.deploy.paths import DEPLOY
from tests.headend.mqtt.bridge_rig import (
    OPS,
    TIMEOUT_S,
    Answerer,
    running_bridge,
    telemetry,
)
from tests.support.binaries import require_binary
from tests.support.mosquitto import MOSQUITTO, MosquittoBroker
from tests.support.ports import free_tcp_port

MOSQUITTO_PASSWD = Path("/usr/bin/mosquitto_passwd")
USERS = {"terminal": "terminal-pass-0123", "requester": "requester-pass-0123"}


@pytest.fixture
def deployed_broker(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, int]]:
    """(broker on its internal port, field port) with the shipped config and ACLs."""
    require_binary(MOSQUITTO, "mosquitto")
    require_binary(MOSQUITTO_PASSWD, "mosquitto")
    passwd = tmp_path / "passwd"
    for index, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run(
            [str(MOSQUITTO_PASSWD), *create, "-b", str(passwd), user, password], check=True
        )
    internal, field = free_tcp_port(), free_tcp_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    conf = (
        conf.replace("listener 1883\n", f"listener {internal} 127.0.0.1\n")
        .replace("listener 1884\n", f"listener {field} 127.0.0.1\n")
        .replace("/mosquitto/config/", f"{DEPLOY / 'mosquitto'}/")
        .replace("/mosquitto/data/passwd", str(passwd))
        .replace("/mosquitto/data/", f"{tmp_path}/")
        .replace("log_dest stdout", "log_dest stderr")
    )
    if os.geteuid() == 0:  # mosquitto started as root drops to "mosquitto", who cannot read tmp
        conf += "\nuser root\n"
    assert f"{DEPLOY / 'mosquitto'}/acl-field" in conf
    broker = MosquittoBroker(tmp_path, port=internal, config_text=conf)
    broker.start()
    try:
        yield broker, field
    finally:
        broker.stop()


def field_client(broker: MosquittoBroker, port: int, user: str | None) -> aiomqtt.Client:
    password = USERS[user] if user else None
    return aiomqtt.Client(
        broker.host, port, identifier=f"{user}-c", username=user, password=password
    )


async def test_terminals_write_only_telemetry_and_requesters_only_requests(
    deployed_broker: tuple[MosquittoBroker, int],
) -> None:
    broker, field = deployed_broker
    answer = Answerer()
    gate = RequestGate((OPS,), rate=1.0, burst=10)
    request = {"action": "read", "meter": "m1", "requester": OPS.name, "token": OPS.token}
    async with running_bridge(broker, answer=answer, gate=gate) as (bridge, received):
        async with field_client(broker, field, "terminal") as terminal:
            # Refused by the broker: a terminal posing as a requester never reaches the head-end.
            await terminal.publish("headend/request/evil", json.dumps(request), qos=1)
            await terminal.publish("terminal/TTU_T1/telemetry", telemetry(230.5), qos=1)
            async with asyncio.timeout(TIMEOUT_S):
                reading = await received.queue.get()
        assert reading.value == 230.5
        assert bridge.stats.messages_in == 1  # the request published before it was dropped
        assert answer.requesters == []

        async with field_client(broker, field, "requester") as requester:
            await requester.subscribe("headend/response/+", qos=1)
            # Refused by the broker: a requester cannot inject telemetry.
            await requester.publish("terminal/TTU_T1/telemetry", telemetry(999.0), qos=1)
            await requester.publish("headend/request/r1", json.dumps(request), qos=1)
            async with asyncio.timeout(TIMEOUT_S):
                async for message in requester.messages:
                    assert isinstance(message.payload, bytes)
                    reply = json.loads(message.payload)
                    break
        assert reply["id"] == "r1"
        assert reply["ok"] is True
        assert answer.requesters == ["ops"]
        assert received.queue.empty()
        assert bridge.stats.messages_in == 2


async def test_the_terminal_simulator_logs_in_and_its_telemetry_arrives(
    deployed_broker: tuple[MosquittoBroker, int],
) -> None:
    broker, field = deployed_broker
    smoke = load_scenario("smoke")
    clock = SteppingClock(smoke.start + timedelta(hours=19), timedelta(minutes=1))
    simulator = TerminalSimulator(
        Community.from_scenario(smoke, seed=0),
        clock,
        TerminalConfig(interval_s=0.05, utc_offset=smoke.utc_offset, reconnect_delay_s=0.1),
        username="terminal",
        password=USERS["terminal"],
    )
    async with (
        running_bridge(broker, devices={"T1": "T1"}) as (_, received),
        asyncio.TaskGroup() as group,
    ):
        group.create_task(simulator.run(broker.host, field))
        async with asyncio.timeout(TIMEOUT_S):
            reading = await received.queue.get()
        simulator.stop()
    assert reading.meter == "T1"
    assert reading.tags["source"] == "terminal"


@pytest.mark.parametrize("user", [None, "stranger"])
async def test_the_field_listener_refuses_anonymous_and_unknown_users(
    deployed_broker: tuple[MosquittoBroker, int], user: str | None
) -> None:
    broker, field = deployed_broker
    client = aiomqtt.Client(
        broker.host, field, identifier="x", username=user, password="guess" if user else None
    )
    with pytest.raises(aiomqtt.MqttError):
        async with client:
            pass
