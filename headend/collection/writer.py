"""Group commit in front of the sink: a record counts, and is shown live, only once it is stored.

Collection must never wait on storage: ``put`` only appends, with a callback. The flush loop
commits whatever has arrived as one batch (what arrives during a commit goes into the next, so
a busy fleet still costs a few commits a second) and, once the sink returned, calls each
record group's callback: that is where the engine publishes to MQTT, SSE and ``latest``. A
reading seen live is therefore on disk; a kill -9 can only lose readings nobody was shown.

A failed write keeps the batch and tries again with backoff, because the only sink that can
fail here is local (the embedded store, or the durable outbox in front of a remote database).
While it fails (disk full, outbox budget full) the buffer is bounded: past ``limit`` records
the overflow policy drops the oldest or refuses the newest, counts them and says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from headend.bus.backoff import Backoff
from storage.errors import RecordError, StorageError, StorageFull
from storage.schema import Record
from storage.sink import Sink

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000
"""Records committed together at most. A commit costs an fsync (23 ms each in the profile of
bench/bench_mqtt_ingest.py on this machine) on top of the rows: with 1,000 a commit, a backlog
of terminal messages was committed 70 messages at a time, fsync-bound; 10,000 is still well
under a second of work."""

Done = Callable[[bool], None]
"""Called once per ``put``: True when its records are stored, False when they were dropped."""


class Overflow(enum.StrEnum):
    """What a full buffer gives up while storage refuses writes."""

    DROP_OLDEST = "drop_oldest"
    """Keep the most recent readings (the default: a fresh register value is worth more)."""
    DROP_NEWEST = "drop_newest"
    """Keep the oldest, contiguous from the start of the outage; refuse what comes after."""


@dataclass(frozen=True, slots=True)
class WriterLimits:
    limit: int = 100_000
    """Records held in RAM at most while storage refuses writes."""
    overflow: Overflow = Overflow.DROP_OLDEST


class StorageState(enum.StrEnum):
    OK = "ok"
    FULL = "full"
    """The disk or the outbox budget is full."""
    FAILING = "failing"
    """Any other refusal of the local store (I/O error)."""


@dataclass(slots=True)
class WriterStats:
    written: int = 0
    batches: int = 0
    errors: int = 0
    pending: int = 0
    dropped: int = 0
    """Records given up by the overflow policy while storage refused writes."""
    lost_at_stop: int = 0
    """Records still unwritten when the shutdown grace ran out."""
    refused: int = 0
    """Records a sink raised RecordError for (set aside, never retried)."""
    state: StorageState = StorageState.OK
    last_error: str = ""
    """The most recent storage error (kept after writes work again, for the final report)."""

    @property
    def lost(self) -> int:
        """Readings and events the head-end acquired but did not store."""
        return self.dropped + self.lost_at_stop


@dataclass(slots=True)
class _Entry:
    records: Sequence[Record]
    done: Done | None


StateListener = Callable[[StorageState, StorageError | None], None]
"""Told when storage starts refusing writes (with the error) and when it accepts them again."""


class RecordWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        batch_size: int = BATCH_SIZE,
        interval: float = 1.0,
        backoff: Backoff | None = None,
        shutdown_grace: float = 10.0,
        limits: WriterLimits | None = None,
        on_state: StateListener | None = None,
    ) -> None:
        self.sink = sink
        self.stats = WriterStats()
        self.limits = limits or WriterLimits()
        if self.limits.limit < 1:
            raise ValueError(f"writer buffer limit must be >= 1, got {self.limits.limit}")
        self._batch_size = min(batch_size, self.limits.limit)
        self._interval = interval
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._shutdown_grace = shutdown_grace
        self._on_state = on_state
        self._queue: deque[_Entry] = deque()
        self._queued = 0
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.overflowing = asyncio.Event()
        """Set while the buffer is full and records are being dropped; cleared once a write
        succeeds again."""

    def put(self, records: Sequence[Record], done: Done | None = None) -> None:
        """Queue records for the next commit; ``done`` runs after it (or when dropped)."""
        if not records:
            if done is not None:
                done(True)
            return
        entry = _Entry(records, done)
        if self._in_flight + self._queued + len(records) > self.limits.limit:
            if self.limits.overflow is Overflow.DROP_NEWEST or len(records) > self.limits.limit:
                self._drop(entry)
                self._wake.set()
                return
            while self._queue and self._in_flight + self._queued + len(records) > (
                self.limits.limit
            ):
                oldest = self._queue.popleft()
                self._queued -= len(oldest.records)
                self._drop(oldest)
        self._queue.append(entry)
        self._queued += len(records)
        self.stats.pending = self._queued + self._in_flight
        self._wake.set()

    async def store(self, records: Sequence[Record]) -> bool:
        """Queue records and wait until they are stored (True) or dropped (False)."""
        stored: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(ok: bool) -> None:
            if not stored.done():
                stored.set_result(ok)

        self.put(records, done)
        return await stored

    def _drop(self, entry: _Entry) -> None:
        self.stats.dropped += len(entry.records)
        if not self.overflowing.is_set():
            self.overflowing.set()
            log.error(
                "storage writer buffer full (%d records; store %s%s): dropping the %s records "
                "(overflow = %s), counted in headend_storage_dropped_total",
                self.limits.limit,
                self.stats.state.value,
                "" if self.stats.state is StorageState.OK else f": {self.stats.last_error}",
                "oldest" if self.limits.overflow is Overflow.DROP_OLDEST else "newest",
                self.limits.overflow.value,
            )
        _call(entry.done, False)

    async def flush(self, *, final: bool = False) -> None:
        """Commit everything queued now, in batches (the run loop, shutdown, tests).

        ``final`` (shutdown): a store already refusing writes gets one more try, not a retry
        loop until the grace runs out; what it refuses is then counted as lost.
        """
        if final:
            self._stopping.set()  # a retry loop in progress gives up its backoff and the lock
        async with self._lock:
            failures = 0
            was_failing = self.stats.state is not StorageState.OK
            while self._queue:
                entries = self._take()
                batch = [record for entry in entries for record in entry.records]
                try:
                    try:
                        await self.sink.write(batch)
                    except RecordError as exc:
                        # A sink that refuses a record cannot be helped by retrying: write the
                        # records one by one so the bad one alone is set aside. (Any other
                        # failure on the way retries the whole batch: rewriting overwrites.)
                        log.error("storage refused a record, writing one by one: %s", exc)
                        await self._write_one_by_one(batch)
                except asyncio.CancelledError:
                    # Stopped mid-write: the batch goes back to the queue, so the final flush
                    # writes it (again, maybe: rewriting overwrites) or counts it as lost.
                    self._give_back(entries)
                    raise
                except StorageError as exc:
                    self._give_back(entries)
                    failures += 1
                    self.stats.errors += 1
                    self._set_state(_state_for(exc), exc)
                    if failures == 1:
                        log.error("storage write failed, keeping %d records: %s", len(batch), exc)
                    if self._stopping.is_set() and (not final or failures > 1 or was_failing):
                        return
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._backoff.delay(failures)):
                            await self._stopping.wait()
                    continue
                self._in_flight = 0
                if failures:
                    log.info("storage write works again")
                    failures = 0
                self._set_state(StorageState.OK, None)
                self.stats.written += len(batch)
                self.stats.batches += 1
                self.stats.pending = self._queued
                for entry in entries:
                    _call(entry.done, True)

    def _take(self) -> list[_Entry]:
        """Whole entries from the front, up to about one batch (at least one entry)."""
        entries: list[_Entry] = []
        count = 0
        while self._queue and (
            not entries or count + len(self._queue[0].records) <= (self._batch_size)
        ):
            entry = self._queue.popleft()
            entries.append(entry)
            count += len(entry.records)
        self._queued -= count
        self._in_flight = count
        return entries

    def _give_back(self, entries: list[_Entry]) -> None:
        """A failed batch goes back to the front; the overflow policy then applies to it too."""
        self._in_flight = 0
        for entry in reversed(entries):
            self._queue.appendleft(entry)
            self._queued += len(entry.records)
        while self._queued > self.limits.limit:
            victim = (
                self._queue.popleft()
                if self.limits.overflow is Overflow.DROP_OLDEST
                else self._queue.pop()
            )
            self._queued -= len(victim.records)
            self._drop(victim)
        self.stats.pending = self._queued

    async def _write_one_by_one(self, batch: list[Record]) -> None:
        for record in batch:
            try:
                await self.sink.write([record])
            except RecordError as exc:
                self.stats.refused += 1
                log.error("storage refused a record, set aside: %s", exc)

    def _set_state(self, state: StorageState, error: StorageError | None) -> None:
        if error is not None:
            self.stats.last_error = str(error)
        if state is self.stats.state:
            return
        self.stats.state = state
        if state is StorageState.OK:
            self.overflowing.clear()
        if self._on_state is not None:
            try:
                self._on_state(state, error)
            except Exception:  # a listener's bug must not stop storage
                log.exception("storage state listener failed")

    async def run(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                await self.flush()
        finally:
            # Cancelled at shutdown: whatever is queued still reaches the sink, within reason.
            try:
                async with asyncio.timeout(self._shutdown_grace):
                    await self.flush(final=True)
            except TimeoutError:
                pass
            self._abandon()

    def _abandon(self) -> None:
        """Count (and report to their owners) the records that never reached the sink."""
        lost = self._queued + self._in_flight
        if not lost:
            return
        self.stats.lost_at_stop += lost
        log.error("shutdown: %d records could not be written and are lost", lost)
        while self._queue:
            _call(self._queue.popleft().done, False)
        self._queued = self._in_flight = 0
        self.stats.pending = 0


def _state_for(exc: StorageError) -> StorageState:
    """Full (disk or outbox budget: an operator must make room) or failing (anything else)."""
    return StorageState.FULL if isinstance(exc, StorageFull) else StorageState.FAILING


def _call(done: Done | None, stored: bool) -> None:
    if done is None:
        return
    try:
        done(stored)
    except Exception:  # a consumer's bug must not stop storage
        log.exception("callback after a storage write failed")
