"""The record writer (group commit) in front of the embedded SQLite store.

What arrives before a commit goes in it and what arrives during one goes in the next; a
record's callback runs only once its commit returned (or with False once it was dropped); a
buffer bounded by its overflow policy while storage refuses writes; the refusal and the
recovery each reported once; what a refusing store still holds at stop is counted lost.

The store is the real one; ``Gate`` in front of it only holds a write back, or makes it fail
the way a full disk does, so the tests can act while a commit is in progress.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from headend.bus.backoff import Backoff
from headend.collection.writer import (
    Overflow,
    RecordWriter,
    StorageState,
    WriterLimits,
)
from storage.embedded import SqliteStore
from storage.errors import RecordError, StorageError, StorageFull
from storage.records import Reading, ReadingKind
from storage.schema import Record

T0 = datetime(2026, 3, 1, tzinfo=UTC)
QUICK = Backoff(0.01, 0.05)
"""Retries of a refused write come quickly (still awaited, never slept on by the test)."""


def batch(number: int, size: int = 10) -> list[Reading]:
    """``size`` readings of meter FULL, values ``number * 10 + i`` a minute apart."""
    return [
        Reading(
            "FULL",
            "energy_active_import_total",
            float(number * 10 + i),
            "kWh",
            T0 + timedelta(minutes=number * 10 + i),
            ReadingKind.ENERGY,
        )
        for i in range(size)
    ]


async def bounded(event: asyncio.Event) -> None:
    async with asyncio.timeout(60):  # a broken writer fails the test instead of hanging it
        await event.wait()


def rows_on_disk(path: Path) -> int:
    """Points another connection sees in the store's file: committed, not just in memory."""
    with sqlite3.connect(path) as connection:
        [(count,)] = connection.execute("SELECT COUNT(*) FROM points").fetchall()
    return int(count)


class Gate:
    """The embedded store behind a gate: writes wait while it is closed and fail with
    ``refusal`` while one is set; every batch that reached the store is remembered."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.open = asyncio.Event()
        self.open.set()
        self.waiting = asyncio.Event()
        """Set once a write is held at the closed gate."""
        self.refusal: StorageError | None = None
        self.refused = 0
        self._counted = asyncio.Condition()
        self.batches: list[int] = []

    async def write(self, batch: Sequence[Record]) -> None:
        if not self.open.is_set():
            self.waiting.set()
            await self.open.wait()
        if self.refusal is not None:
            async with self._counted:
                self.refused += 1
                self._counted.notify_all()
            raise self.refusal
        await self.store.write(batch)
        self.batches.append(len(batch))

    async def refused_at_least(self, times: int) -> None:
        async with asyncio.timeout(60), self._counted:
            await self._counted.wait_for(lambda: self.refused >= times)

    async def aclose(self) -> None:
        await self.store.aclose()


@pytest.fixture
async def gate(tmp_path: Path) -> AsyncIterator[Gate]:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    yield Gate(store)
    await store.aclose()


async def test_what_arrives_before_a_commit_is_one_batch(gate: Gate) -> None:
    writer = RecordWriter(gate)
    for number in range(3):
        writer.put(batch(number))
    assert writer.stats.pending == 30
    await writer.flush()
    assert gate.batches == [30]
    assert (writer.stats.written, writer.stats.batches, writer.stats.pending) == (30, 1, 0)


async def test_what_arrives_during_a_commit_goes_into_the_next_one(
    gate: Gate, tmp_path: Path
) -> None:
    writer = RecordWriter(gate, interval=0.01)
    gate.open.clear()
    async with asyncio.TaskGroup() as group:
        running = group.create_task(writer.run())
        writer.put(batch(0))
        await bounded(gate.waiting)  # the first commit is in progress
        writer.put(batch(1))
        writer.put(batch(2))
        stored = asyncio.Event()
        writer.put(batch(3), lambda ok: stored.set())
        gate.open.set()
        await bounded(stored)
        running.cancel()
    assert gate.batches == [10, 30]
    assert rows_on_disk(tmp_path / "store.sqlite") == 40


async def test_a_batch_holds_whole_puts_up_to_its_size(gate: Gate) -> None:
    writer = RecordWriter(gate, batch_size=15)
    for number in range(3):
        writer.put(batch(number))
    writer.put(batch(3, size=20))  # more than a batch alone: still written whole
    await writer.flush()
    assert gate.batches == [10, 10, 10, 20]


async def test_a_callback_runs_only_once_its_records_are_on_disk(
    gate: Gate, tmp_path: Path
) -> None:
    path = tmp_path / "store.sqlite"
    writer = RecordWriter(gate)
    seen_on_disk: list[tuple[bool, int]] = []
    writer.put(batch(0), lambda ok: seen_on_disk.append((ok, rows_on_disk(path))))
    writer.put(batch(1), lambda ok: seen_on_disk.append((ok, rows_on_disk(path))))
    assert seen_on_disk == []  # queued is not stored
    await writer.flush()
    assert seen_on_disk == [(True, 20), (True, 20)]
    waiting = asyncio.create_task(writer.store(batch(2)))  # the waiting form
    await asyncio.wait({waiting}, timeout=0)
    assert not waiting.done()
    await writer.flush()
    assert await waiting  # True once committed
    assert rows_on_disk(path) == 30


async def test_refused_writes_are_kept_retried_and_reported_once_each_way(gate: Gate) -> None:
    states: list[tuple[StorageState, type[StorageError] | None]] = []
    changed = {state: asyncio.Event() for state in StorageState}

    def note(state: StorageState, error: StorageError | None) -> None:
        states.append((state, None if error is None else type(error)))
        changed[state].set()

    writer = RecordWriter(gate, backoff=QUICK, interval=0.01, on_state=note)
    gate.refusal = StorageFull("disk full: database or disk is full")
    outcomes: list[bool] = []
    async with asyncio.TaskGroup() as group:
        running = group.create_task(writer.run())
        writer.put(batch(0), outcomes.append)
        await bounded(changed[StorageState.FULL])
        assert writer.stats.state is StorageState.FULL
        waiting = group.create_task(writer.store(batch(1)))  # an on-demand read's wait
        await gate.refused_at_least(3)  # retried, not given up
        assert outcomes == []
        assert not waiting.done()
        gate.refusal = None  # room made on the disk
        await bounded(changed[StorageState.OK])
        assert await waiting
        running.cancel()
    assert outcomes == [True]
    assert states == [(StorageState.FULL, StorageFull), (StorageState.OK, None)]
    assert writer.stats.errors == gate.refused >= 3
    assert writer.stats.last_error == "disk full: database or disk is full"  # kept for the report
    assert writer.stats.lost == 0
    assert sum(gate.batches) == 20


@pytest.mark.parametrize(
    ("overflow", "kept"), [(Overflow.DROP_OLDEST, [2, 3]), (Overflow.DROP_NEWEST, [0, 1])]
)
async def test_while_storage_refuses_the_buffer_is_bounded_by_its_policy(
    gate: Gate, tmp_path: Path, overflow: Overflow, kept: list[int]
) -> None:
    writer = RecordWriter(
        gate, backoff=QUICK, interval=0.01, limits=WriterLimits(limit=20, overflow=overflow)
    )
    gate.refusal = StorageError("database is locked")
    outcomes: dict[int, bool] = {}
    all_told = asyncio.Event()

    def told(number: int, ok: bool) -> None:
        outcomes[number] = ok
        if len(outcomes) == 4:
            all_told.set()

    async with asyncio.TaskGroup() as group:
        running = group.create_task(writer.run())
        for number in range(4):
            writer.put(batch(number), partial(told, number))
        await bounded(writer.overflowing)
        await gate.refused_at_least(1)
        assert writer.stats.pending == 20  # RAM bounded: two of the four puts
        assert writer.stats.dropped == 20
        assert {n for n, ok in outcomes.items() if not ok} == {0, 1, 2, 3} - set(kept)
        gate.refusal = None
        await bounded(all_told)
        running.cancel()
    assert writer.stats.state is StorageState.OK
    assert not writer.overflowing.is_set()  # cleared once writes work again
    assert {n for n, ok in outcomes.items() if ok} == set(kept)
    stored = await gate.store.stored_points(
        ReadingKind.ENERGY, ["FULL"], ["energy_active_import_total"], T0, T0 + timedelta(days=1)
    )
    assert sorted(p.value for p in stored if p.value is not None) == [
        float(n * 10 + i) for n in kept for i in range(10)
    ]
    assert writer.stats.lost == 20


async def test_a_put_larger_than_the_whole_buffer_is_refused_at_once(gate: Gate) -> None:
    writer = RecordWriter(gate, limits=WriterLimits(limit=5))
    outcomes: list[bool] = []
    writer.put(batch(0), outcomes.append)
    assert outcomes == [False]
    assert (writer.stats.dropped, writer.stats.pending) == (10, 0)
    await writer.flush()
    assert gate.batches == []


def test_a_buffer_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="writer buffer limit must be >= 1, got 0"):
        RecordWriter(RefusingSink(), limits=WriterLimits(limit=0))


async def test_what_a_refusing_store_still_holds_at_stop_is_counted_lost(gate: Gate) -> None:
    writer = RecordWriter(gate, backoff=QUICK, interval=0.01, shutdown_grace=5)
    gate.refusal = StorageError("I/O error")
    outcomes: list[bool] = []
    running = asyncio.create_task(writer.run())
    writer.put(batch(0), outcomes.append)
    await gate.refused_at_least(1)
    running.cancel()  # the engine's stop
    with pytest.raises(asyncio.CancelledError):
        await running
    assert outcomes == [False]
    assert writer.stats.lost_at_stop == 10
    assert writer.stats.lost == 10
    assert writer.stats.pending == 0


class RefusingSink:
    """A sink of another kind that raises RecordError for a whole batch with one bad record."""

    def __init__(self) -> None:
        self.stored: list[Reading] = []

    async def write(self, batch: Sequence[Record]) -> None:
        if any(isinstance(r, Reading) and r.value == -1.0 for r in batch):
            raise RecordError("reading FULL: value -1 is refused")
        self.stored.extend(r for r in batch if isinstance(r, Reading))

    async def aclose(self) -> None:
        return None


async def test_a_record_a_sink_refuses_is_set_aside_and_the_rest_stored() -> None:
    sink = RefusingSink()
    writer = RecordWriter(sink)
    bad = Reading("FULL", "q", -1.0, "kWh", T0)
    async with asyncio.timeout(10):  # before the fix: retried forever
        writer.put([*batch(0)[:5], bad, *batch(0)[5:]])
        await writer.flush()
    assert [r.value for r in sink.stored] == [float(i) for i in range(10)]
    assert writer.stats.refused == 1
    assert writer.stats.pending == 0


class StallingFirstWrite:
    """The embedded store behind a first write that stalls (a slow disk) until cancelled."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.stalled = asyncio.Event()

    async def write(self, batch: Sequence[Record]) -> None:
        if not self.stalled.is_set():
            self.stalled.set()
            await asyncio.Event().wait()
        await self.store.write(batch)

    async def aclose(self) -> None:
        await self.store.aclose()


async def test_a_batch_in_flight_when_the_writer_is_stopped_is_written_at_stop(
    tmp_path: Path,
) -> None:
    sink = StallingFirstWrite(await SqliteStore.open(tmp_path / "store.sqlite"))
    writer = RecordWriter(sink, interval=0.01)
    outcomes: list[bool] = []
    running = asyncio.create_task(writer.run())
    writer.put(batch(0), outcomes.append)
    await bounded(sink.stalled)
    running.cancel()  # the engine's stop, while the batch is being written
    with pytest.raises(asyncio.CancelledError):
        await running
    stored = await sink.store.stored_points(
        ReadingKind.ENERGY, ["FULL"], ["energy_active_import_total"], T0, T0 + timedelta(days=1)
    )
    await sink.aclose()
    assert len(stored) == 10  # before the fix: lost from the queue, never written again
    assert outcomes == [True]
    assert writer.stats.lost_at_stop == 0
