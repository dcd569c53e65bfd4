"""What one client may cost the head-end: request body size and concurrent live streams.

Body size is enforced by FastAPI's own limiter (Starlette's ``RequestBodyLimitMiddleware``):
it answers 413 from ``Content-Length`` before a byte is read, and while a chunked body streams
in, so a large body is never buffered or parsed, and the refusal comes before the token check
(FastAPI reads the body before it resolves dependencies). Live streams hold a subscriber
queue and a task each for as long as the viewer stays, so their number is capped; past the
cap a viewer gets 503 with ``Retry-After`` (``EventSource`` reconnects by itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass

from fastapi import HTTPException, status
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 64 * 1024
"""The largest body any route takes (a meter to add) is well under 1 KiB."""
DEFAULT_MAX_STREAM_CLIENTS = 32
STREAM_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True, slots=True)
class ApiLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_stream_clients: int = DEFAULT_MAX_STREAM_CLIENTS


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
