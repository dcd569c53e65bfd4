"""Incident notifications by webhook: one per incident opened, escalated, reopened or cleared,
never one per alarm; rate-limited per destination, retried with backoff, never in the way.

``offer`` is called from the engine's incident pass and only puts a ready body on each
destination's bounded queue (full: the notification is dropped and counted), so a slow or
dead robot never holds up collection. One task per destination drains its queue at its rate
(``rate_limit.DeliveryPace``), POSTs the JSON and retries a failure (an HTTP error, a timeout,
a robot's ``errcode``) ``retries`` times, waiting ``backoff_s`` doubling, then gives it up
(counted, logged once per notification).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from headend.bus.backoff import Backoff
from headend.config.errors import ConfigError
from headend.config.notify import NotifyTable
from headend.incidents.book import Change, IncidentChange
from headend.incidents.messages import body, refused, title
from headend.incidents.rate_limit import DeliveryPace
from headend.incidents.records import HistoryEvent, IncidentSeverity

log = logging.getLogger(__name__)

NOTIFIED = {
    Change.OPENED: "opened",
    Change.REOPENED: "reopened",
    Change.ESCALATED: "escalated",
    Change.CLEARED: "cleared",
}
REMEMBERED = 4096
"""Notification keys remembered for de-duplication."""

Post = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""POST the JSON to the URL; return the decoded answer or raise (the caller times it out)."""


@dataclass(frozen=True, slots=True)
class Webhook:
    name: str
    url: str
    format: str = "generic"
    per_minute: float = 6.0
    burst: int = 3
    retries: int = 3
    backoff_s: float = 2.0
    timeout_s: float = 10.0


@dataclass(slots=True)
class NotificationStats:
    queued: int = 0
    sent: int = 0
    retries: int = 0
    failed: int = 0
    """Given up after the retries."""
    dropped: int = 0
    """Not queued: the queue was full."""
    delayed: int = 0
    """Held back by the rate limit."""


@dataclass(frozen=True, slots=True)
class Notification:
    key: tuple[str, ...]
    title: str
    body: dict[str, Any]


def webhooks_of(table: NotifyTable, environ: Mapping[str, str], source: str) -> list[Webhook]:
    """The destinations, URLs read from the environment; a missing variable names its key."""
    hooks = []
    for index, hook in enumerate(table.webhooks):
        url = hook.url
        if hook.url_env is not None:
            url = environ.get(hook.url_env)
            if not url:
                raise ConfigError(
                    source,
                    f"notify.webhooks[{index}].url_env",
                    f"environment variable {hook.url_env} is not set",
                )
            if not url.startswith(("http://", "https://")):
                raise ConfigError(source, f"notify.webhooks[{index}].url_env", "not an http(s) URL")
        assert url is not None  # the table checks one of url and url_env is given
        hooks.append(
            Webhook(
                hook.name,
                url,
                hook.format,
                hook.per_minute,
                hook.burst,
                hook.retries,
                hook.backoff_s,
                hook.timeout_s,
            )
        )
    return hooks


async def aiohttp_post(url: str, payload: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as session, session.post(url, json=payload) as answer:
        answer.raise_for_status()
        try:
            return await answer.json(content_type=None)
        except ValueError:
            return None


@dataclass(slots=True)
class _Destination:
    hook: Webhook
    queue: asyncio.Queue[Notification]
    bucket: DeliveryPace
    stats: NotificationStats = field(default_factory=NotificationStats)


class Notifier:
    def __init__(
        self,
        webhooks: Sequence[Webhook],
        tz: ZoneInfo,
        *,
        min_severity: str = "major",
        queue_size: int = 256,
        post: Post = aiohttp_post,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tz = tz
        self._min_rank = IncidentSeverity(min_severity).rank
        self._post = post
        self._monotonic = monotonic
        self._destinations = [
            _Destination(h, asyncio.Queue(queue_size), DeliveryPace(h.per_minute, h.burst))
            for h in webhooks
        ]
        self._sent_keys: set[tuple[str, ...]] = set()
        self._sent_order: deque[tuple[str, ...]] = deque()
        self.deduplicated = 0

    @property
    def stats(self) -> Mapping[str, NotificationStats]:
        return {d.hook.name: d.stats for d in self._destinations}

    def offer(self, change: IncidentChange) -> None:
        """Queue a notification for a change worth one (never waits, never raises)."""
        event = NOTIFIED.get(change.change)
        incident = change.incident
        if event is None or not self._destinations:
            return
        if incident.severity.rank < self._min_rank:
            return
        opens = sum(
            1 for h in incident.history if h.event in (HistoryEvent.OPENED, HistoryEvent.REOPENED)
        )
        # One "it is on" per time it comes on, whether it opened or reopened.
        key: tuple[str, ...] = (incident.id, str(opens), "opened" if event == "reopened" else event)
        if event == "escalated":
            key += (incident.severity.value,)
        if key in self._sent_keys:
            self.deduplicated += 1
            return
        self._remember(key)
        for destination in self._destinations:
            note = Notification(
                key,
                title(incident, event),
                body(destination.hook.format, incident, event, self._tz),
            )
            try:
                destination.queue.put_nowait(note)
            except asyncio.QueueFull:
                destination.stats.dropped += 1
                log.warning("webhook %s: queue full, dropped %s", destination.hook.name, note.title)
            else:
                destination.stats.queued += 1

    def _remember(self, key: tuple[str, ...]) -> None:
        self._sent_keys.add(key)
        self._sent_order.append(key)
        while len(self._sent_order) > REMEMBERED:
            self._sent_keys.discard(self._sent_order.popleft())

    async def run(self) -> None:
        if not self._destinations:
            return
        async with asyncio.TaskGroup() as group:
            for destination in self._destinations:
                group.create_task(self._drain(destination), name=f"webhook {destination.hook.name}")

    async def _drain(self, destination: _Destination) -> None:
        while True:
            note = await destination.queue.get()
            wait = destination.bucket.wait(self._monotonic())
            if wait > 0:
                destination.stats.delayed += 1
                await asyncio.sleep(wait)
            destination.bucket.take(self._monotonic())
            try:
                await self._deliver(destination, note)
            except Exception:  # a robot's answer we did not foresee must not stop the engine
                destination.stats.failed += 1
                log.exception("webhook %s: %s not delivered", destination.hook.name, note.title)

    async def _deliver(self, destination: _Destination, note: Notification) -> None:
        hook = destination.hook
        backoff = Backoff(hook.backoff_s, hook.backoff_s * 2**hook.retries)
        for attempt in range(hook.retries + 1):
            try:
                async with asyncio.timeout(hook.timeout_s):
                    answer = await self._post(hook.url, note.body)
                problem = refused(hook.format, answer)
            except aiohttp.ClientResponseError as exc:  # its text holds the URL, and the key
                problem = f"HTTP {exc.status} {exc.message}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = str(exc) or type(exc).__name__
            if problem is None:
                destination.stats.sent += 1
                return
            if attempt == hook.retries:
                break
            destination.stats.retries += 1
            await asyncio.sleep(backoff.delay(attempt + 1))
        destination.stats.failed += 1
        log.warning("webhook %s: gave up on %s: %s", hook.name, note.title, problem)
