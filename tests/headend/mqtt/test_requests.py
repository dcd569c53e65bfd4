"""MQTT ``read`` and ``clock`` requests: parsed, refused with the field named, run in the
billing lane under the requester's name (the whole path over a bus: test_engine_requests.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from headend.bus.lanes import Lane
from headend.mqtt.requests import MqttRequests
from storage.records import Reading

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class Commands:
    """Records what a request asked the operator commands to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def read_now(
        self, meter_id: str, quantities: Sequence[str] | None = None, *, lane: Lane = Lane.CONTROL
    ) -> list[Reading]:
        self.calls.append(("read", meter_id, quantities, lane))
        return [Reading(meter_id, "voltage_a", 230.5, "V", AT)]

    async def check_clock(
        self, meter_id: str, *, user: str = "scheduler", lane: Lane | None = None
    ) -> float:
        self.calls.append(("clock", meter_id, user, lane))
        return -3.0


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
def answer(commands: Commands) -> MqttRequests:
    return MqttRequests(commands, commands)


async def test_a_read_is_answered_with_its_readings_in_the_billing_lane(
    answer: MqttRequests, commands: Commands
) -> None:
    reply = await answer({"action": "read", "meter": "m1", "quantities": ["voltage_a"]}, "ops")
    assert commands.calls == [("read", "m1", ["voltage_a"], Lane.BILLING)]
    assert reply == {
        "readings": [
            {
                "meter": "m1",
                "quantity": "voltage_a",
                "value": 230.5,
                "unit": "V",
                "timestamp": AT.isoformat(),
                "kind": "instant",
                "quality": "actual",
            }
        ]
    }


async def test_a_read_without_quantities_reads_the_plan(
    answer: MqttRequests, commands: Commands
) -> None:
    await answer({"action": "read", "meter": "m1"}, "ops")
    assert commands.calls == [("read", "m1", None, Lane.BILLING)]


async def test_a_clock_check_runs_as_the_requester_in_the_billing_lane(
    answer: MqttRequests, commands: Commands
) -> None:
    assert await answer({"action": "clock", "meter": "m1"}, "ops") == {"drift_seconds": -3.0}
    assert commands.calls == [("clock", "m1", "mqtt:ops", Lane.BILLING)]


@pytest.mark.parametrize(
    ("request_document", "message"),
    [
        ({"action": "read"}, "request needs a 'meter' (text)"),
        ({"action": "read", "meter": 7}, "request needs a 'meter' (text)"),
        (
            {"action": "read", "meter": "m1", "quantities": "voltage_a"},
            "'quantities' must be a list of quantity names",
        ),
        (
            {"action": "read", "meter": "m1", "quantities": ["voltage_a", 3]},
            "'quantities' must be a list of quantity names",
        ),
        ({"action": "relay", "meter": "m1"}, "unknown action 'relay' (read, clock)"),
        ({"meter": "m1"}, "unknown action None (read, clock)"),
    ],
)
async def test_a_bad_request_is_refused_naming_the_field_and_runs_nothing(
    answer: MqttRequests, commands: Commands, request_document: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        await answer(request_document, "ops")
    assert str(refused.value) == message
    assert commands.calls == []
