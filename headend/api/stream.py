"""Server-sent events for the dashboard: live readings, the fleet overview, and open alarms.

One engine subscription per connected viewer (the engine drops a slow viewer's oldest values,
never ours). Overview and alarms are derived state the engine does not announce, so they are
re-checked whenever a reading arrives or the keep-alive wakes us, and sent only when changed
(alarms) or at most once per ``overview_every`` seconds (overview).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

from headend.api.bodies import reading_rows
from headend.api.facade import HeadendFacade
from headend.api.fleet_view import fleet_overview
from headend.api.incident_models import IncidentOut
from headend.api.models import AlarmOut, FleetOut
from storage.records import Reading

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
OVERVIEW_EVERY = 1.0


def sse_event(event: str, data: Any) -> bytes:
    """One SSE message; ``data`` is JSON on a single line (JSON escapes newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def reading_event(reading: Reading) -> bytes:
    """A ``reading`` message: the row ``/api/readings/latest`` has for it, encoded without a
    model (one per reading per viewer, at the collection rate)."""
    return b"event: reading\ndata: " + reading_rows([reading]) + b"\n\n"


def _alarms(headend: HeadendFacade) -> list[dict[str, Any]]:
    return [AlarmOut.of(a).model_dump(mode="json") for a in headend.open_alarms()]


def _incidents(headend: HeadendFacade) -> list[dict[str, Any]]:
    return [IncidentOut.of(i).model_dump(mode="json") for i in headend.active_incidents()]


def _overview(headend: HeadendFacade) -> dict[str, Any]:
    return FleetOut.model_validate(fleet_overview(headend, headend.now())).model_dump(mode="json")


async def live_events(
    headend: HeadendFacade,
    *,
    keepalive: float = KEEPALIVE_SECONDS,
    overview_every: float = OVERVIEW_EVERY,
) -> AsyncGenerator[bytes, None]:
    """Events until the viewer goes away (the server then cancels or closes this generator)."""
    queue = headend.subscribe()
    loop = asyncio.get_running_loop()
    try:
        yield b"retry: 2000\n\n"
        alarms = _alarms(headend)
        yield sse_event("alarms", alarms)
        incidents_seen = headend.incidents_version()
        yield sse_event("incidents", _incidents(headend))
        yield sse_event("fleet", _overview(headend))
        last_overview = loop.time()
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    reading = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
            else:
                yield reading_event(reading)
            current = _alarms(headend)
            if current != alarms:
                alarms = current
                yield sse_event("alarms", alarms)
            if headend.incidents_version() != incidents_seen:
                incidents_seen = headend.incidents_version()
                yield sse_event("incidents", _incidents(headend))
            if loop.time() - last_overview >= overview_every:
                last_overview = loop.time()
                yield sse_event("fleet", _overview(headend))
    finally:
        headend.unsubscribe(queue)
