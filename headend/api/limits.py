"""What one client may cost the head-end: request body size and concurrent live streams.

Body size is enforced by FastAPI's own limiter (Starlette's ``RequestBodyLimitMiddleware``,
``FastAPI(max_body_size=...)``): it answers 413 from ``Content-Length`` before a byte is read,
and stops a chunked body as soon as it passes the limit, so a large body is never buffered or
parsed. On routes that take a body the refusal comes before the token check (FastAPI reads the
body before it resolves dependencies); routes that take none never read it, and their answer is
still replaced by the 413 when ``Content-Length`` is over the limit. Live streams hold a subscriber
queue and a task each for as long as the viewer stays, so their number is capped; past the
cap a viewer gets 503 with ``Retry-After`` (``EventSource`` reconnects by itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

from fastapi import HTTPException, status
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.datastructures import Headers
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headend.config.api import (
    DEFAULT_MAX_ARCHIVE_BYTES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_STREAM_CLIENTS,
)

log = logging.getLogger(__name__)

STREAM_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True, slots=True)
class ApiLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_stream_clients: int = DEFAULT_MAX_STREAM_CLIENTS
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    """The archive uploads' own limit (``BodyLimitReport``'s ``wider`` paths)."""


@dataclass(frozen=True, slots=True)
class WiderLimit:
    """A path whose body may be larger than ``max_body_bytes`` (an archive upload)."""

    max_bytes: int
    key: str
    """The ``[api]`` key that sets it, named in the 413."""


DEFAULT_LIMITS = ApiLimits()


class StreamSlots:
    """Counts open live streams; a slot is held from admission until the response ends."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.refused = 0
        self._changed = asyncio.Condition()

    def take(self) -> None:
        """Admit one more viewer or refuse with 503 and ``Retry-After``."""
        if self.in_use >= self.capacity:
            self.refused += 1
            if self.refused == 1 or self.refused % 100 == 0:
                log.warning(
                    "live stream refused: %d viewers connected (max_stream_clients = %d), "
                    "%d refused since start",
                    self.in_use,
                    self.capacity,
                    self.refused,
                )
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=f"too many live stream viewers ({self.capacity}); retry later",
                headers={"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)},
            )
        self.in_use += 1

    async def give_back(self) -> None:
        async with self._changed:
            self.in_use -= 1
            self._changed.notify_all()

    async def wait_free(self) -> None:
        """Until a new viewer would be admitted (operators' tooling and tests)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_use < self.capacity)


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that gives its slot back however it ends (viewer gone, server
    stopping, error). Releasing here rather than in the generator's ``finally`` also covers a
    response whose generator never started."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        slots: StreamSlots,
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._slots.give_back()


class BodyLimitReport:
    """Outside FastAPI's limiter: refuses a declared ``Content-Length`` over the limit before
    the app runs at all (FastAPI's limiter only replaces the answer of a route that takes no
    body, after the route has acted: a DELETE would be done and reported as refused), counts
    every 413, logs the first and every 100th, and gives them a body that names the limit, its
    key and the request."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        wider: Mapping[str, WiderLimit] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.wider = dict(wider or {})
        """Paths with a limit of their own; their route enforces it on the body as read."""
        self.refused = 0

    def _limit(self, scope: Scope) -> tuple[int, str]:
        wider = self.wider.get(scope["path"])
        if wider is None:
            return self.max_body_bytes, "[api] max_body_bytes"
        return wider.max_bytes, wider.key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self._limit(scope)[0]:
            await self._refuse(scope, send)
            return
        refusing = False

        async def report(message: Message) -> None:
            nonlocal refusing
            if message["type"] == "http.response.start" and message["status"] == 413:
                refusing = True
                return
            if not refusing:
                await send(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._refuse(scope, send)

        await self.app(scope, receive, report)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        self.refused += 1
        where = f"{scope['method']} {scope['path']}"
        limit, key = self._limit(scope)
        if self.refused == 1 or self.refused % 100 == 0:
            log.warning(
                "%s: request body over %d bytes refused (413), %d since start",
                where,
                limit,
                self.refused,
            )
        detail = f"{where}: request body larger than {limit} bytes ({key})"
        body = json.dumps({"detail": detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def refusal_families(bodies: BodyLimitReport, streams: StreamSlots) -> list[Metric]:
    refused = CounterMetricFamily(
        "headend_api_refused_total",
        "API requests refused for a limit: body_too_large (413), stream_cap (503).",
        labels=["reason"],
    )
    refused.add_metric(["body_too_large"], bodies.refused)
    refused.add_metric(["stream_cap"], streams.refused)
    viewers = GaugeMetricFamily(
        "headend_api_stream_clients", "Live streams open now.", streams.in_use
    )
    return [refused, viewers]
