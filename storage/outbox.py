"""Durable outbox in front of a remote sink: nothing is acknowledged before it is on disk.

``write`` encodes the batch to line protocol and commits it to a local SQLite file (WAL,
synchronous=FULL, so the commit survives kill -9 and power loss) before returning. ``run`` replays
the stored batches to the target sink in the order they were written and deletes them only
after the target accepted them. A crash between "sent" and "deleted" sends the batch again,
which is harmless: a point with the same measurement, tags and timestamp overwrites itself.

Storing encoded lines (not records) means bad records are refused at ``write`` time, while the
producer can still act, and replay costs no encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from storage.errors import (
    BadLineError,
    OutboxFull,
    RecordError,
    SinkUnavailable,
    WriteRejected,
    local_store_error,
)
from storage.line_protocol import LineEncoder
from storage.retry import RetryPolicy
from storage.schema import Record
from storage.sink import LineSink
from storage.sqlite_thread import SqliteThread

log = logging.getLogger(__name__)

# secure_delete=FAST: Debian's SQLite zeroes every freed page by default, which made deleting a
# delivered 5000-point row write 700 kB and cost ten times the delete itself. FAST still zeroes
# what it can without extra I/O; the same readings sit in the database server anyway.
SCHEMA: Final = """
PRAGMA secure_delete=FAST;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ns INTEGER NOT NULL,
    points INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    points INTEGER NOT NULL,
    payload BLOB NOT NULL,
    error TEXT NOT NULL
);
"""

DELETE_EVERY_POINTS: Final = 20_000
"""Sent rows are deleted in groups of about this many points (and whenever replay pauses): a
delete commit costs about as much as reading a row, and a crash before it only resends."""
DEFAULT_CAPACITY_BYTES: Final = 1 << 30
_DRAIN_BACKOFF: Final = RetryPolicy(attempts=1, initial_delay_s=0.5, max_delay_s=30.0)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What a metrics endpoint exports about the outbox."""

    pending_points: int
    pending_bytes: int
    capacity_bytes: int
    delivered_points: int
    dead_letter_points: int
    target_up: bool

    @property
    def fill_ratio(self) -> float:
        """Share of the disk budget in use, 0..1."""
        return self.pending_bytes / self.capacity_bytes if self.capacity_bytes else 0.0


class _Outcome(enum.Enum):
    """What one delivery attempt did with its rows."""

    SENT = enum.auto()
    ISOLATING = enum.auto()
    """Rejected as a group: the rows are resent one by one to find the bad one."""
    DEAD_LETTERED = enum.auto()
    FAILED = enum.auto()
    """The target is down or refusing: the rows stay, retry after a backoff."""


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    points: int
    payload: bytes
    """UTF-8 lines, posted as stored."""


class Outbox:
    """A Sink that stores first and forwards later. Open with ``open_outbox`` or ``Outbox.open``.

    ``target`` should have a short retry policy of its own: the outbox retries forever.
    """

    def __init__(
        self,
        thread: SqliteThread,
        target: LineSink,
        *,
        capacity_bytes: int,
        warn_ratio: float,
        max_batch_points: int,
        pending_points: int,
        pending_bytes: int,
        backoff: RetryPolicy,
    ) -> None:
        self._thread = thread
        self._task: asyncio.Task[None] | None = None
        self._target = target
        self._capacity = capacity_bytes
        self._warn_ratio = warn_ratio
        self._max_batch_points = max_batch_points
        self._backoff = backoff
        self._encoder = LineEncoder()
        self._pending_points = pending_points
        self._pending_bytes = pending_bytes
        self._delivered = 0
        self._dead_letters = 0
        self._target_up = True
        self._filling_warned = False
        self._single_until = 0
        self._delete_failed = False
        self._sent_not_deleted: list[_Row] = []
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._closing = asyncio.Event()
        self._abandon = False
        self._finished = asyncio.Event()
        self._running = False
        self._closed = False
        if pending_points == 0:
            self._drained.set()

    @classmethod
    async def open(
        cls,
        path: Path | str,
        target: LineSink,
        *,
        capacity_bytes: int = DEFAULT_CAPACITY_BYTES,
        warn_ratio: float = 0.8,
        max_batch_points: int = 5000,
        backoff: RetryPolicy = _DRAIN_BACKOFF,
    ) -> Outbox:
        """Open (creating if needed) the outbox file; batches left by a previous run are kept."""
        if capacity_bytes <= 0:
            raise ValueError(f"outbox capacity_bytes must be > 0, got {capacity_bytes}")
        if not 0 < warn_ratio <= 1:
            raise ValueError(f"outbox warn_ratio must be in (0, 1], got {warn_ratio}")
        thread = SqliteThread(Path(path))
        await thread.open(SCHEMA)

        points, size = await thread.run(_totals)
        if points:
            log.info("outbox %s: %d points left from a previous run, replaying", path, points)
        return cls(
            thread,
            target,
            capacity_bytes=capacity_bytes,
            warn_ratio=warn_ratio,
            max_batch_points=max_batch_points,
            pending_points=points,
            pending_bytes=size,
            backoff=backoff,
        )

    @property
    def dead_letters(self) -> int:
        """Lines and records moved to the ``dead_letter`` table since open."""
        return self._dead_letters

    def stats(self) -> OutboxStats:
        """Current counters (cheap; no disk access)."""
        return OutboxStats(
            pending_points=self._pending_points,
            pending_bytes=self._pending_bytes,
            capacity_bytes=self._capacity,
            delivered_points=self._delivered,
            dead_letter_points=self._dead_letters,
            target_up=self._target_up,
        )

    async def write(self, batch: Sequence[Record]) -> None:
        """Encode and commit the batch to disk; returning means it will reach the target.

        A large batch is stored as several rows of at most ``max_batch_points`` lines, in one
        transaction, so that replay never builds an oversized request.
        """
        if self._closed:
            raise RuntimeError("outbox is closed")
        if not batch:
            return
        lines, refused = self._encode(batch)
        created = time.time_ns()
        step = self._max_batch_points
        rows = [
            (created, len(lines[i : i + step]), "\n".join(lines[i : i + step]).encode())
            for i in range(0, len(lines), step)
        ]
        size = sum(len(row[2]) for row in rows)
        if self._pending_bytes + size > self._capacity:
            raise OutboxFull(
                f"outbox full: {self._pending_bytes} of {self._capacity} bytes pending; "
                f"batch of {len(batch)} points not stored"
            )

        dead = [(created, 1, text.encode(), error) for text, error in refused]

        def insert(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN")
                connection.executemany(
                    "INSERT INTO outbox (created_ns, points, payload) VALUES (?, ?, ?)", rows
                )
                connection.executemany(
                    "INSERT INTO dead_letter (created_ns, points, payload, error) "
                    "VALUES (?, ?, ?, ?)",
                    dead,
                )

        try:
            await self._thread.run(insert)
        except (sqlite3.Error, OSError) as exc:
            raise local_store_error(exc, f"outbox {self._thread.path}") from exc
        self._dead_letters += len(dead)
        if not lines:
            return
        self._pending_points += len(lines)
        self._pending_bytes += size
        self._drained.clear()
        self._wakeup.set()
        self._check_fill()

    def _encode(self, batch: Sequence[Record]) -> tuple[list[str], list[tuple[str, str]]]:
        """Lines of the records that have one, and (record, error) of those that do not.

        One bad record must not hold back the rest of the batch (nor every batch after it,
        which is what a producer retrying the same batch would do), so it is dead-lettered
        here, named in the log, and the others are stored.
        """
        try:
            return self._encoder.encode_many(batch), []
        except RecordError:
            pass  # the fast path stops at the first bad record: sort them one by one
        lines: list[str] = []
        refused: list[tuple[str, str]] = []
        for record in batch:
            try:
                lines.append(self._encoder.encode(record))
            except RecordError as exc:
                log.error("outbox dead-lettered a record that has no line protocol: %s", exc)
                refused.append((repr(record), str(exc)))
        return lines, refused

    def _check_fill(self) -> None:
        ratio = self._pending_bytes / self._capacity
        if ratio >= self._warn_ratio and not self._filling_warned:
            self._filling_warned = True
            log.warning(
                "outbox %.0f%% full (%d points, %d bytes): the target has not been taking data",
                ratio * 100,
                self._pending_points,
                self._pending_bytes,
            )
        elif ratio < self._warn_ratio / 2 and self._filling_warned:
            self._filling_warned = False
            log.info("outbox back to %.0f%% full", ratio * 100)

    async def wait_drained(self) -> None:
        """Return once everything written so far has been delivered (or dead-lettered)."""
        await self._drained.wait()

    async def run(self) -> None:
        """Replay stored batches to the target until ``aclose``; run it in a TaskGroup.

        Replay is pipelined, because a backlog after an outage should drain at the server's
        pace: while one batch is in flight, the SQLite thread reads the batch after it and
        deletes batches sent earlier. Still one request in flight, so batches first reach the
        server in the order they were written (a resend after a failure can repeat older ones).
        """
        if self._running:
            raise RuntimeError("outbox run() is already running")
        if self._closing.is_set():
            return  # closed before this task got its first turn
        self._running = True
        self._task = asyncio.current_task()
        failures = 0
        following: asyncio.Future[list[_Row]] | None = None
        try:
            while not self._abandon:
                rows = await following if following is not None else []
                following = None
                if self._delete_failed:
                    # Start again from what is on disk: every row there counts as pending and
                    # is sent again, after a backoff so a disk refusing deletes is not hammered.
                    self._delete_failed = False
                    self._sent_not_deleted = []
                    await self._recount()
                    failures += 1
                    if self._closing.is_set():
                        return
                    await self._wait_for(self._closing, self._backoff.delay(failures))
                    continue
                if not rows:
                    self._delete_sent()
                    # Clear before reading: a write committed after this read wakes us again.
                    self._wakeup.clear()
                    rows = await self._read(after_id=0)
                rows = self._took(rows)
                if not rows:
                    if self._pending_points == 0:  # a write may be between insert and count
                        self._drained.set()
                    if self._closing.is_set():
                        return
                    await self._wait_for(self._wakeup, None)
                    continue
                following = self._read(after_id=rows[-1].id)
                outcome = await self._deliver(rows)
                if outcome is _Outcome.SENT:
                    failures = 0
                    continue
                await following  # read before the outcome changed the table: start again
                following = None
                if outcome is not _Outcome.FAILED:
                    failures = 0
                    continue
                failures += 1
                self._delete_sent()  # before a pause that may last until the process dies
                if self._closing.is_set():
                    return
                await self._wait_for(self._closing, self._backoff.delay(failures))
        finally:
            if following is not None:
                following.add_done_callback(_discard)
            self._delete_sent()  # queued before aclose closes the file, so it still runs
            self._finished.set()

    async def _deliver(self, rows: list[_Row]) -> _Outcome:
        """Send rows and say what became of them."""
        try:
            await self._target.write_lines([row.payload for row in rows])
        except BadLineError as exc:
            if len(rows) > 1:
                self._single_until = rows[-1].id
                log.warning("outbox batch rejected, resending row by row to isolate: %s", exc)
                return _Outcome.ISOLATING
            return await self._isolate_lines(rows[0], exc)
        except (SinkUnavailable, WriteRejected) as exc:
            # Down, overloaded, or refusing us as configured (credentials, unknown database):
            # keep the data, an operator can fix the cause.
            if self._target_up:
                self._target_up = False
                report = log.error if isinstance(exc, WriteRejected) else log.warning
                report("outbox target failing, keeping data on disk: %s", exc)
            return _Outcome.FAILED
        if not self._target_up:
            self._target_up = True
            log.info("outbox target accepting data again")
        self._delivered += sum(row.points for row in rows)
        self._forget(rows)
        self._sent_not_deleted.extend(rows)
        if sum(row.points for row in self._sent_not_deleted) >= DELETE_EVERY_POINTS:
            self._delete_sent()
        return _Outcome.SENT

    async def _isolate_lines(self, row: _Row, error: BadLineError) -> _Outcome:
        """Bisect a refused row until only the lines the server refuses are left; those go to
        the dead-letter table, one row per line, and every other line is delivered.

        Resending a line the server already took (InfluxDB 1.x stores the good lines of a
        refused request) is harmless by the overwrite rule. If the server goes away meanwhile
        the row stays whole and is tried again later.
        """
        bad: list[tuple[bytes, str]] = []

        async def send(lines: list[bytes], known: BadLineError | None) -> None:
            if known is None:
                try:
                    await self._target.write_lines([b"\n".join(lines)])
                    return
                except BadLineError as exc:
                    known = exc
            if len(lines) == 1:
                bad.append((lines[0], str(known)))
                return
            middle = len(lines) // 2
            await send(lines[:middle], None)
            await send(lines[middle:], None)

        lines = row.payload.split(b"\n")
        try:
            await send(lines, error)
        except (SinkUnavailable, WriteRejected) as exc:
            log.warning("outbox stopped isolating a refused row, will retry: %s", exc)
            return _Outcome.FAILED
        await self._thread.run(partial(_dead_letter_lines, row_id=row.id, lines=bad))
        for line, reason in bad:
            log.error("outbox dead-lettered a line the server refused: %s: %r", reason, line)
        self._dead_letters += len(bad)
        self._delivered += len(lines) - len(bad)
        self._forget([row])
        return _Outcome.DEAD_LETTERED

    def _delete_sent(self) -> None:
        """Queue the delete of every row sent so far, without waiting for it.

        The delete runs while the next batch is in flight. Jobs on the SQLite thread run in
        submission order, so every read queued after this one sees these rows gone; this must
        therefore be called before reading from the oldest row again.
        """
        if not self._sent_not_deleted:
            return
        rows, self._sent_not_deleted = self._sent_not_deleted, []
        deleting = self._thread.submit(partial(_delete_through, last_id=rows[-1].id))
        deleting.add_done_callback(partial(self._deleted, rows=rows))

    def _deleted(self, deleting: asyncio.Future[None], rows: list[_Row]) -> None:
        """Note a delete the disk refused; ``run`` then starts again from what is on disk."""
        if deleting.cancelled() or deleting.exception() is None:
            return
        log.error(
            "outbox could not delete %d delivered points, they will be sent again: %s",
            sum(row.points for row in rows),
            deleting.exception(),
        )
        self._drained.clear()
        self._delete_failed = True

    async def _recount(self) -> None:
        """Make the pending counters what is on disk (queued after every delete so far)."""
        self._pending_points, self._pending_bytes = await self._thread.run(_totals)
        if self._pending_points:
            self._drained.clear()
        self._check_fill()

    def _forget(self, rows: list[_Row]) -> None:
        self._pending_points -= sum(row.points for row in rows)
        self._pending_bytes -= sum(len(row.payload) for row in rows)
        self._check_fill()

    def _read(self, after_id: int) -> asyncio.Future[list[_Row]]:
        """Queue a read of the rows after ``after_id`` (0: the oldest), one request's worth.

        While a rejected batch is being isolated, one row at a time. The limit is decided here
        on the event loop, not on the SQLite thread, so isolation state has one owner.
        """
        return self._thread.submit(
            partial(
                _rows_after,
                after_id=after_id,
                limit=1 if self._single_until else 256,
                max_points=self._max_batch_points,
            )
        )

    def _took(self, rows: list[_Row]) -> list[_Row]:
        """Note rows about to be sent: isolation ends with the last row of the rejected batch."""
        if rows and rows[-1].id >= self._single_until:
            self._single_until = 0
        return rows

    @staticmethod
    async def _wait_for(event: asyncio.Event, timeout_s: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await event.wait()

    async def aclose(self, *, drain_timeout_s: float = 5.0) -> None:
        """Stop forwarding (after trying to drain for ``drain_timeout_s``) and close files.

        Anything not delivered stays on disk for the next start. Closes the target too.
        """
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._wakeup.set()
        if self._running:
            try:
                async with asyncio.timeout(drain_timeout_s):
                    await self._finished.wait()
            except TimeoutError:
                # A delivery may sit in the sink's retries for a minute: stop it here. Its rows
                # were never deleted, so they are replayed at the next start.
                self._abandon = True
                if self._task is not None:
                    self._task.cancel()
                await self._finished.wait()
        await self._thread.close()
        await self._target.aclose()


def _totals(connection: sqlite3.Connection) -> tuple[int, int]:
    """Points and payload bytes on disk."""
    row = connection.execute(
        "SELECT COALESCE(SUM(points), 0), COALESCE(SUM(LENGTH(CAST(payload AS BLOB))), 0) "
        "FROM outbox"
    ).fetchone()
    return int(row[0]), int(row[1])


def _rows_after(
    connection: sqlite3.Connection, after_id: int, limit: int, max_points: int
) -> list[_Row]:
    """Up to ``limit`` rows after ``after_id`` in order, stopping before ``max_points``.

    Sizes are read first and payloads only for the rows chosen: a payload is up to a megabyte,
    and reading one just to find that it does not fit would double the cost of replay.
    """
    chosen: list[tuple[int, int]] = []
    total = 0
    for row_id, points in connection.execute(
        "SELECT id, points FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
    ):
        if chosen and total + points > max_points:
            break
        chosen.append((row_id, points))
        total += points
    if not chosen:
        return []
    payloads = connection.execute(
        "SELECT payload FROM outbox WHERE id BETWEEN ? AND ? ORDER BY id",
        (chosen[0][0], chosen[-1][0]),
    )
    return [
        # Files written before payloads were stored as bytes hold text: the same lines.
        _Row(row_id, points, payload.encode() if isinstance(payload, str) else payload)
        for (row_id, points), (payload,) in zip(chosen, payloads, strict=True)
    ]


def _delete_through(connection: sqlite3.Connection, last_id: int) -> None:
    with connection:
        connection.execute("BEGIN")
        connection.execute("DELETE FROM outbox WHERE id <= ?", (last_id,))


def _discard(future: asyncio.Future[list[_Row]]) -> None:
    """Retrieve a read nobody waits for any more, logging its failure rather than losing it."""
    if not future.cancelled() and future.exception() is not None:
        log.warning("outbox read abandoned at shutdown failed: %s", future.exception())


def _dead_letter_lines(
    connection: sqlite3.Connection, row_id: int, lines: list[tuple[bytes, str]]
) -> None:
    """Move the refused lines of a row to the dead-letter table and drop the row, atomically."""
    with connection:
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO dead_letter (created_ns, points, payload, error) "
            "SELECT created_ns, 1, ?, ? FROM outbox WHERE id = ?",
            [(line, error, row_id) for line, error in lines],
        )
        connection.execute("DELETE FROM outbox WHERE id = ?", (row_id,))


@contextlib.asynccontextmanager
async def open_outbox(
    path: Path | str,
    target: LineSink,
    *,
    capacity_bytes: int = DEFAULT_CAPACITY_BYTES,
    warn_ratio: float = 0.8,
    max_batch_points: int = 5000,
    backoff: RetryPolicy = _DRAIN_BACKOFF,
    drain_timeout_s: float = 5.0,
) -> AsyncIterator[Outbox]:
    """An outbox with its replay task running for the duration of the block."""
    outbox = await Outbox.open(
        path,
        target,
        capacity_bytes=capacity_bytes,
        warn_ratio=warn_ratio,
        max_batch_points=max_batch_points,
        backoff=backoff,
    )
    async with asyncio.TaskGroup() as group:
        group.create_task(outbox.run())
        try:
            yield outbox
        finally:
            await outbox.aclose(drain_timeout_s=drain_timeout_s)
