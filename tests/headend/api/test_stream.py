"""The live event stream the dashboard listens to."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from headend.api.facade import HeadendFacade
from headend.api.stream import live_events
from storage.records import Severity
from tests.headend.api.fleet import WAIT_SECONDS, LiveFleet


async def next_event(events: AsyncIterator[bytes], wanted: str) -> Any:
    """The data of the next event of type ``wanted``."""
    async with asyncio.timeout(WAIT_SECONDS):
        async for chunk in events:
            lines = chunk.decode().splitlines()
            if lines and lines[0] == f"event: {wanted}":
                assert lines[1].startswith("data: ")
                return json.loads(lines[1].removeprefix("data: "))
    raise AssertionError(f"stream ended before a {wanted} event")


async def test_stream_pushes_new_values_and_alarm_changes(fleet: LiveFleet) -> None:
    events = live_events(HeadendFacade(fleet.engine), overview_every=0.0)
    try:
        assert await next_event(events, "alarms") == []
        overview = await next_event(events, "fleet")
        assert overview["transformers"][0]["name"] == "T1"
        fleet.values["m1"]["voltage_a"] = 212.3
        while True:
            reading = await next_event(events, "reading")
            if (reading["meter"], reading["quantity"], reading["value"]) == (
                "m1",
                "voltage_a",
                pytest.approx(212.3),
            ):
                break
        fleet.engine.alarms.meter_event(
            "m1",
            "meter_offline",
            active=True,
            at=fleet.engine.clock.now(),
            detail="test",
            severity=Severity.WARNING,
            tags={},
        )
        alarms = await next_event(events, "alarms")
        assert [(a["subject"], a["kind"]) for a in alarms] == [("m1", "meter_offline")]
    finally:
        await events.aclose()
