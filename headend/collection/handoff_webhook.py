"""POSTing the hand-off files to the billing system's webhook, until it acknowledges them.

Each file of a hand-off is one POST (``text/csv``) with headers naming it (``X-Handoff-Day``,
``-Sequence``, ``-Kind``, ``-File``, ``-Rows`` and an ``Idempotency-Key``), so a receiver can
file it and drop a repeat: a hand-off is delivered once every file got a 2xx, and a failed one
sends all its files again. A failure (refused, unreachable, timeout) is counted, logged once per
change of state, and retried with exponential backoff (full jitter, up to ``retry_max``); the
pending deliveries are in the ledger, so a restart sends them. Nothing here waits on
collection or makes it wait: the loop is a task of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import aiohttp

from headend.bus.backoff import Backoff
from headend.errors import HeadendError
from storage.handoff.ledger import Destination, Handoff, HandoffLedger

log = logging.getLogger(__name__)

FIRST_RETRY_S: Final = 1.0
MAX_ATTEMPT_EXPONENT: Final = 64
"""Failures counted for the backoff at most: the cap (``retry_max``) is reached long before,
and a receiver down for weeks must not make the delay's power overflow."""
IDLE_LOOK_S: Final = 60.0
"""Real seconds between looks at the ledger when nothing woke the sender."""


class WebhookRefused(HeadendError):
    """The hand-off webhook did not acknowledge a file (an HTTP status other than 2xx, no
    connection, a timeout); the delivery stays pending and is retried."""


@dataclass(slots=True)
class WebhookStats:
    posts: int = 0
    """Files acknowledged (2xx)."""
    failures: int = 0
    """Attempts that failed (each counted, each retried)."""
    delivered: int = 0
    """Hand-offs delivered whole."""
    pending: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class HandoffWebhook:
    url: str
    folder: Path
    ledger_path: Path
    now: Callable[[], datetime]
    authorization: str | None = None
    timeout: float = 30.0
    retry_max: float = 600.0
    stats: WebhookStats = field(default_factory=WebhookStats)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while nothing is pending (after a look found every hand-off delivered)."""

    def wake(self) -> None:
        """A hand-off was recorded: look for pending deliveries now."""
        self._wake.set()

    async def loop(self) -> None:
        backoff = Backoff(FIRST_RETRY_S, max(self.retry_max, FIRST_RETRY_S))
        failed = 0
        async with aiohttp.ClientSession() as session:
            while True:
                self._wake.clear()
                self.idle.clear()
                try:
                    ok = await self.deliver_pending(session)
                except Exception as exc:  # the ledger failing must not stop collection either
                    ok = False
                    self._failed(str(exc))
                if ok:
                    failed = 0
                    self.idle.set()
                    # Woken by this head-end's hand-offs; the periodic look finds one recorded
                    # by hand (``headend export handoff``) too.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(IDLE_LOOK_S):
                            await self._wake.wait()
                    continue
                failed = min(failed + 1, MAX_ATTEMPT_EXPONENT)  # 2.0 ** huge overflows
                await asyncio.sleep(backoff.delay(failed))

    async def deliver_pending(self, session: aiohttp.ClientSession) -> bool:
        """Send every pending hand-off, oldest first; False at the first that fails."""
        pending = await asyncio.to_thread(self._pending)
        self.stats.pending = len(pending)
        for handoff in pending:
            try:
                await self.post(session, handoff)
            except WebhookRefused as exc:
                self._failed(str(exc))
                await asyncio.to_thread(self._attempted, handoff, str(exc))
                return False
            await asyncio.to_thread(self._attempted, handoff, None)
            self.stats.delivered += 1
            self.stats.pending -= 1
            if self.stats.last_error is not None:
                log.info("hand-off webhook %s acknowledges again", self.url)
                self.stats.last_error = None
        return True

    async def post(self, session: aiohttp.ClientSession, handoff: Handoff) -> None:
        for name in handoff.files:
            path = self.folder / name
            kind = name.split("-", 1)[0]
            headers = {
                "Content-Type": "text/csv; charset=utf-8",
                "X-Handoff-Day": handoff.day.isoformat(),
                "X-Handoff-Sequence": str(handoff.sequence),
                "X-Handoff-Kind": handoff.kind.value,
                "X-Handoff-File": kind,
                "X-Handoff-Rows": str(handoff.rows),
                "Idempotency-Key": f"{handoff.day.isoformat()}-{handoff.sequence}-{kind}",
            }
            if self.authorization is not None:
                headers["Authorization"] = self.authorization
            try:
                body = path.open("rb")  # streamed by aiohttp, not read whole into memory
            except OSError as exc:
                raise WebhookRefused(f"{path}: cannot read the file to send: {exc}") from exc
            try:
                with body:
                    async with session.post(
                        self.url,
                        data=body,
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=self.timeout),
                    ) as response:
                        status = response.status  # the body is not read: it could be any size
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise WebhookRefused(
                    f"hand-off webhook {self.url}: {type(exc).__name__}: {exc}"
                ) from exc
            if not 200 <= status < 300:
                raise WebhookRefused(f"hand-off webhook {self.url}: HTTP {status} for {name}")
            self.stats.posts += 1

    def _failed(self, error: str) -> None:
        self.stats.failures += 1
        if self.stats.last_error is None:
            log.warning("hand-off webhook failed (retrying with backoff): %s", error)
        self.stats.last_error = error

    def _pending(self) -> list[Handoff]:
        with HandoffLedger.open(self.ledger_path) as ledger:
            return ledger.pending(Destination.WEBHOOK)

    def _attempted(self, handoff: Handoff, error: str | None) -> None:
        with HandoffLedger.open(self.ledger_path) as ledger:
            ledger.attempted(handoff, Destination.WEBHOOK, self.now(), error)
