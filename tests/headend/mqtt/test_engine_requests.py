"""MQTT requests reach the real engine's buses in the billing lane, never ahead of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from headend.bus.lanes import Lane
from tests.support.engine_rig import M1, Rig


async def test_mqtt_requests_go_in_the_billing_lane(
    rig: Rig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = rig.engine.workers["bus-1"]
    real_call = worker.call
    lanes: list[tuple[Lane, str]] = []

    async def spy(lane: Lane, label: str, action: Callable[[Any], Awaitable[Any]]) -> Any:
        lanes.append((lane, label))
        return await real_call(lane, label, action)

    monkeypatch.setattr(worker, "call", spy)
    read = await rig.engine.mqtt_requests(
        {"action": "read", "meter": M1, "quantities": ["voltage_a"]}, "ops"
    )
    clock = await rig.engine.mqtt_requests({"action": "clock", "meter": M1}, "ops")
    # an operator at the API keeps the control lane
    await rig.engine.operations.read_now(M1, ["voltage_a"])
    assert read["readings"][0]["meter"] == M1
    assert isinstance(clock["drift_seconds"], float)
    assert lanes == [
        (Lane.BILLING, f"on-demand {M1}"),
        (Lane.BILLING, f"clock {M1}"),
        (Lane.CONTROL, f"on-demand {M1}"),
    ]
