"""One worker per bus: one request in flight, priority lanes, retries, reconnects.

RS-485 is half-duplex and a transparent gateway is a pipe to one RS-485 bus, so everything
that talks to a bus goes through its worker's lane queue; many buses run side by side in one
TaskGroup. The worker owns the connection: it opens it when work arrives, keeps it while it
works, and after a loss waits out a growing backoff before trying again, failing jobs fast in
the meantime so callers record ``connection_lost`` instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from headend.bus.backoff import Backoff
from headend.bus.lanes import DEFAULT_WEIGHTS, Lane, LaneQueue, QueueClosed
from headend.errors import BusClosed, ReadFailed
from protocols.errors import RemoteProtocolError
from storage.records import FailureReason
from transports.errors import ConnectionLost, OpenFailed

log = logging.getLogger(__name__)

R = TypeVar("R")


class BusConnection(Protocol):
    """What the worker needs of a bus connection: open it, know it is open, close it.

    ``BusLink`` (bytes over a serial port or gateway, for DL/T 645) and the Modbus adapter link
    both fit, so the same worker discipline governs every protocol.
    """

    @property
    def is_open(self) -> bool: ...

    def describe(self) -> str: ...

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...


C = TypeVar("C", bound=BusConnection)


@dataclass(slots=True)
class BusJob(Generic[C, R]):
    """Work for the bus: ``action`` runs with the bus to itself and returns the result."""

    label: str
    action: Callable[[C], Awaitable[R]]
    future: asyncio.Future[R]
    attempts: int = 0
    on_done: Callable[[asyncio.Future[R]], None] | None = None
    """Called once the job is over (its future settled, or found cancelled), from the
    worker's own step: no loop callback per job, as ``add_done_callback`` needs."""


@dataclass(slots=True)
class BusStats:
    jobs_done: int = 0
    jobs_failed: int = 0
    retries: int = 0
    reconnects: int = 0
    busy_seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BusPolicy:
    retries: int = 2
    retry_backoff: Backoff = field(default_factory=lambda: Backoff(0.2, 2.0))
    reconnect_backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))


class BusWorker(Generic[C]):
    def __init__(
        self,
        name: str,
        connection: C,
        policy: BusPolicy | None = None,
        *,
        weights: dict[Lane, int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or BusPolicy()
        self.connection = connection
        self.stats = BusStats()
        self._lanes: LaneQueue[BusJob[C, Any]] = LaneQueue(weights or DEFAULT_WEIGHTS)
        self._rng = rng or random.Random(name)
        self._down_until = 0.0
        self._open_failures = 0
        self._ever_opened = False
        self._started = asyncio.get_running_loop().time()
        self.connected = False

    def depth(self, lane: Lane | None = None) -> int:
        return len(self._lanes) if lane is None else self._lanes.depth(lane)

    def utilisation(self) -> float:
        """Fraction of wall time the bus spent on jobs since the worker started."""
        elapsed = asyncio.get_running_loop().time() - self._started
        return self.stats.busy_seconds / elapsed if elapsed > 0 else 0.0

    def submit(
        self,
        lane: Lane,
        label: str,
        action: Callable[[C], Awaitable[R]],
        *,
        on_done: Callable[[asyncio.Future[R]], None] | None = None,
    ) -> asyncio.Future[R]:
        """Queue ``action``; the returned future ends with its result or its ``ReadFailed``.
        ``on_done`` (see ``BusJob``) is never called before ``submit`` has returned."""
        if self._lanes.closed:
            raise BusClosed(f"bus {self.name}: shutting down")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._lanes.put(lane, BusJob(label, action, future, on_done=on_done))
        return future

    async def call(self, lane: Lane, label: str, action: Callable[[C], Awaitable[R]]) -> R:
        return await self.submit(lane, label, action)

    def close(self) -> None:
        """Stop taking work; ``run`` finishes the job in flight and fails the queued ones."""
        self._lanes.close()
        for job in self._lanes.drain():
            if not job.future.done():
                job.future.set_exception(BusClosed(f"bus {self.name}: shutting down"))
            self._done(job)

    def _done(self, job: BusJob[C, Any]) -> None:
        if job.on_done is not None:
            try:
                job.on_done(job.future)
            except Exception:  # the caller's bug must not stop the bus
                log.exception("bus %s: job %s: completion callback failed", self.name, job.label)

    async def run(self) -> None:
        lanes = self._lanes
        try:
            while True:
                # A busy bus takes its next job without a coroutine for the wait.
                item = lanes.get_nowait()
                if item is None:
                    try:
                        item = await lanes.get()
                    except QueueClosed:
                        return
                job = item[1]
                if job.future.done():  # the caller gave up (cancelled) while it was queued
                    self._done(job)
                    continue
                await self._execute(job)
                self._done(job)
        finally:
            await self.connection.aclose()
            self.connected = False

    async def _execute(self, job: BusJob[C, Any]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            connection = self.connection
            if job.attempts == 0 and connection.is_open:
                # The usual case, a first attempt on an open connection, awaits the action
                # itself: no coroutine of ``_attempts`` in the chain each resumption walks.
                self._ever_opened = self.connected = True
                job.attempts = 1
                failed: ReadFailed | None = None
                try:
                    result = await job.action(connection)
                except (ConnectionLost, RemoteProtocolError, ReadFailed) as exc:
                    failed = self._failure(exc)
                if failed is not None:  # retried outside the handler, as in ``_attempts``
                    result = await self._attempts(job, failed)
            else:
                result = await self._attempts(job)
        except ReadFailed as exc:
            self.stats.jobs_failed += 1
            self.stats.failures[exc.reason.value] = self.stats.failures.get(exc.reason.value, 0) + 1
            if not job.future.done():
                job.future.set_exception(exc)
        except Exception as exc:  # a bug in a session must fail its job, not the bus
            log.exception("bus %s: job %s crashed", self.name, job.label)
            self.stats.jobs_failed += 1
            if not job.future.done():
                job.future.set_exception(exc)
        else:
            self.stats.jobs_done += 1
            if not job.future.done():
                job.future.set_result(result)
        finally:
            self.stats.busy_seconds += loop.time() - started

    def _failure(self, exc: Exception) -> ReadFailed:
        """What an attempt's exception counts as."""
        if isinstance(exc, ConnectionLost):
            return ReadFailed(FailureReason.CONNECTION_LOST, f"bus {self.name}: {exc}")
        if isinstance(exc, RemoteProtocolError):  # the peer broke the protocol: a bad reply
            return ReadFailed(FailureReason.MALFORMED, f"bus {self.name}: {exc}")
        assert isinstance(exc, ReadFailed)
        return exc

    async def _attempts(self, job: BusJob[C, Any], failed: ReadFailed | None = None) -> Any:
        """Attempts until one succeeds or the failure is final; ``failed``: how the attempt
        already made (by ``_execute``) ended."""
        while True:
            if failed is not None:
                failure, failed = failed, None
            else:
                job.attempts += 1
                try:
                    if self.connection.is_open:
                        self._ever_opened = self.connected = True
                    else:
                        await self._ensure_open()
                    return await job.action(self.connection)
                except (ConnectionLost, RemoteProtocolError, ReadFailed) as exc:
                    failure = self._failure(exc)
            if failure.reason is FailureReason.CONNECTION_LOST and self.connected:
                await self._lost(failure.detail)
            if not failure.retryable or job.attempts > self.policy.retries:
                raise failure
            self.stats.retries += 1
            await asyncio.sleep(self.policy.retry_backoff.delay(job.attempts, self._rng))

    async def _ensure_open(self) -> None:
        if self.connection.is_open:
            self._ever_opened = self.connected = True
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._down_until:
            wait = self._down_until - loop.time()
            where = self.connection.describe()
            raise ReadFailed(
                FailureReason.CONNECTION_LOST,
                f"bus {self.name}: {where} is down, next attempt in {wait:.1f}s",
                retryable=False,  # fail fast: retrying inside the backoff window cannot help
            )
        try:
            await self.connection.open()
        except OpenFailed as exc:
            self._open_failures += 1
            delay = self.policy.reconnect_backoff.delay(self._open_failures, self._rng)
            self._down_until = loop.time() + delay
            if self._open_failures == 1:
                log.warning(
                    "bus %s: cannot open %s: %s", self.name, self.connection.describe(), exc
                )
            raise ReadFailed(FailureReason.CONNECTION_LOST, f"bus {self.name}: {exc}") from exc
        if self._ever_opened:
            self.stats.reconnects += 1
            log.info("bus %s: %s open again", self.name, self.connection.describe())
        self._ever_opened = True
        self._open_failures = 0
        self.connected = True

    async def _lost(self, detail: str) -> None:
        if self.connected:
            log.warning("bus %s: connection lost: %s", self.name, detail)
        self.connected = False
        await self.connection.aclose()
