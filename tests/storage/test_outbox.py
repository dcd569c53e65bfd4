"""The durable outbox: acknowledged means on disk, replay in order, outages, rejects, full disk."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.errors import AuthError, OutboxFull, WriteRejected
from storage.line_protocol import LineEncoder
from storage.outbox import Outbox, open_outbox
from storage.records import Reading, ReadingKind
from storage.retry import RetryPolicy
from tests.support.fake_target import FakeTarget

QUICK = RetryPolicy(attempts=1, initial_delay_s=0.01, max_delay_s=0.05)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def readings(first: int, count: int, meter: str = "M1") -> list[Reading]:
    return [
        Reading(
            meter,
            "energy_active_import_total",
            float(i),
            "kWh",
            T0 + timedelta(seconds=i),
            ReadingKind.ENERGY,
        )
        for i in range(first, first + count)
    ]


async def test_batches_are_delivered_in_order(tmp_path: Path) -> None:
    target = FakeTarget()
    batches = [readings(i * 10, 10) for i in range(5)]
    path = tmp_path / "outbox.db"
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        for batch in batches:
            await outbox.write(batch)
        await outbox.wait_drained()
        stats = outbox.stats()
    expected = LineEncoder().encode_many([r for batch in batches for r in batch])
    assert target.lines == expected
    assert (stats.pending_points, stats.delivered_points) == (0, 50)
    assert target.closed
    with sqlite3.connect(path) as connection:  # delivered rows are gone: no resend at start
        assert connection.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)


async def test_acknowledged_batches_are_on_disk_before_delivery(tmp_path: Path) -> None:
    target = FakeTarget()
    target.up = False
    path = tmp_path / "outbox.db"
    async with open_outbox(path, target, backoff=QUICK, drain_timeout_s=0.1) as outbox:
        await outbox.write(readings(0, 7))
        # Another connection sees the committed batch: it is durable, not just in memory.
        with sqlite3.connect(path) as connection:
            [(points,)] = connection.execute("SELECT SUM(points) FROM outbox").fetchall()
        assert points == 7
        assert outbox.stats().pending_points == 7
    assert target.lines == []


async def test_outage_accumulates_then_replays_in_order(tmp_path: Path) -> None:
    target = FakeTarget()
    async with open_outbox(tmp_path / "outbox.db", target, backoff=QUICK) as outbox:
        await outbox.write(readings(0, 5))
        await outbox.wait_drained()
        target.up = False
        await outbox.write(readings(5, 5))
        await outbox.write(readings(10, 5))
        assert outbox.stats().pending_points == 10
        target.up = True
        await outbox.wait_drained()
        assert outbox.stats().target_up
    values = [float(line.split("value=")[1].split(",")[0]) for line in target.lines]
    assert values == [float(i) for i in range(15)]


async def test_left_over_batches_are_replayed_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    first = FakeTarget()
    outbox = await Outbox.open(path, first)
    await outbox.write(readings(0, 3))
    await outbox.aclose()  # never ran: nothing delivered
    assert first.lines == []
    second = FakeTarget()
    async with open_outbox(path, second, backoff=QUICK) as reopened:
        assert reopened.stats().pending_points == 3
        await reopened.wait_drained()
    assert len(second.lines) == 3


async def test_rows_the_disk_would_not_delete_are_resent_and_recounted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.db"
    outbox = await Outbox.open(path, FakeTarget(), backoff=QUICK)
    await outbox.write(readings(0, 4))
    await outbox.aclose()  # never ran
    target = FakeTarget()
    caplog.set_level(logging.ERROR, logger="storage.outbox")
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        # A read-only connection: the replay can read and send, but not delete what it sent.
        await outbox._thread.run(lambda connection: connection.execute("PRAGMA query_only=ON"))
        await target.third_call.wait()  # sent again after a refused delete, and again
        assert any("could not delete 4 delivered points" in m for m in caplog.messages)
        await outbox._thread.run(lambda connection: connection.execute("PRAGMA query_only=OFF"))
        await outbox.wait_drained()
        # Recounted from the file after each refused delete, not drifting with every resend.
        assert (outbox.stats().pending_points, outbox.stats().pending_bytes) == (0, 0)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    assert set(target.lines) == set(LineEncoder().encode_many(readings(0, 4)))
    assert len(target.lines) >= 3 * 4  # resent after each refused delete, never lost


async def test_a_delete_refused_once_leaves_the_counters_true(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    batches = [readings(i * 10_000, 10_000) for i in range(3)]
    outbox = await Outbox.open(path, FakeTarget(), max_batch_points=5000)
    for batch in batches:
        await outbox.write(batch)
    await outbox.aclose()  # six rows of 5000 points, none sent

    class RefusingUntilFifthSend(FakeTarget):
        """The grouped delete after the fourth row fails; the disk takes writes again later."""

        live: Outbox | None = None

        async def write_lines(self, chunks: Sequence[bytes]) -> None:
            await super().write_lines(chunks)
            if self.calls == 5 and self.live is not None:
                await self.live._thread.run(lambda c: c.execute("PRAGMA query_only=OFF"))

    target = RefusingUntilFifthSend()
    async with open_outbox(path, target, max_batch_points=5000, backoff=QUICK) as live:
        target.live = live
        await live._thread.run(lambda c: c.execute("PRAGMA query_only=ON"))
        async with asyncio.timeout(30):
            await live.wait_drained()
        stats = live.stats()
    assert (stats.pending_points, stats.pending_bytes) == (0, 0)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    expected = LineEncoder().encode_many([r for batch in batches for r in batch])
    assert set(target.lines) == set(expected)  # all delivered; some twice, harmlessly


async def test_rows_stored_as_text_by_an_earlier_version_are_replayed(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    lines = LineEncoder().encode_many(readings(0, 3))
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, created_ns INTEGER NOT "
            "NULL, points INTEGER NOT NULL, payload TEXT NOT NULL)"
        )
        connection.execute(
            "INSERT INTO outbox (created_ns, points, payload) VALUES (0, 3, ?)", ("\n".join(lines),)
        )
    target = FakeTarget()
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        assert outbox.stats().pending_bytes == len("\n".join(lines))
        await outbox.write(readings(3, 2))
        await outbox.wait_drained()
    assert target.lines == lines + LineEncoder().encode_many(readings(3, 2))


async def test_rejected_lines_are_isolated_and_dead_lettered(tmp_path: Path) -> None:
    target = FakeTarget()
    target.up = False
    target.reject_marker = "meter=BAD"
    path = tmp_path / "outbox.db"
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        await outbox.write(readings(0, 2))
        await outbox.write(readings(2, 1, meter="BAD"))
        await outbox.write(readings(3, 2))
        target.up = True  # all three rows now go out together, and get rejected together
        await outbox.wait_drained()
        stats = outbox.stats()
    assert stats.dead_letter_points == 1
    assert [line.split(",")[0:2] for line in target.lines] == [["energy", "meter=M1"]] * 4
    with sqlite3.connect(path) as connection:
        [(payload, error)] = connection.execute("SELECT payload, error FROM dead_letter")
    assert b"meter=BAD" in payload
    assert "bad line" in error


async def test_full_outbox_refuses_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = FakeTarget()
    target.up = False
    one_batch = len("\n".join(LineEncoder().encode_many(readings(0, 10))))
    caplog.set_level(logging.WARNING, logger="storage.outbox")
    async with open_outbox(
        tmp_path / "outbox.db",
        target,
        capacity_bytes=int(one_batch * 2.5),
        backoff=QUICK,
        drain_timeout_s=0.1,
    ) as outbox:
        await outbox.write(readings(0, 10))
        assert not any("full" in message for message in caplog.messages)
        await outbox.write(readings(10, 10))
        assert any("% full" in message for message in caplog.messages)
        with pytest.raises(OutboxFull, match="not stored"):
            await outbox.write(readings(20, 10))
        assert outbox.stats().pending_points == 20
        assert outbox.stats().fill_ratio == pytest.approx(0.8, abs=0.01)


async def test_a_bad_record_is_dead_lettered_at_write_and_never_sent(tmp_path: Path) -> None:
    target = FakeTarget()
    async with open_outbox(tmp_path / "outbox.db", target, backoff=QUICK) as outbox:
        bad = Reading("M1", "q", 1.0, "kWh", T0, tags={"building": "two\nlines"})
        await outbox.write([bad])
        stats = outbox.stats()
        assert (stats.pending_points, stats.dead_letter_points) == (0, 1)
    assert target.lines == []


async def test_large_batches_are_replayed_in_bounded_requests(tmp_path: Path) -> None:
    target = FakeTarget()
    async with open_outbox(
        tmp_path / "outbox.db", target, max_batch_points=40, backoff=QUICK
    ) as outbox:
        await outbox.write(readings(0, 100))
        await outbox.wait_drained()
    assert max(target.requests) <= 40
    assert len(target.lines) == 100


@pytest.mark.parametrize(
    "refusal",
    [AuthError("HTTP 401", status=401), WriteRejected("HTTP 404: database not found", status=404)],
)
async def test_refusals_that_an_operator_can_fix_keep_the_data(
    tmp_path: Path, refusal: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    target = FakeTarget()
    target.refusal = refusal
    caplog.set_level(logging.ERROR, logger="storage.outbox")
    async with open_outbox(tmp_path / "outbox.db", target, backoff=QUICK) as outbox:
        await outbox.write(readings(0, 5))
        await target.third_call.wait()  # the outbox keeps retrying, one call per backoff step
        stats = outbox.stats()
        assert (stats.pending_points, stats.dead_letter_points, stats.target_up) == (5, 0, False)
        assert sum("keeping data" in message for message in caplog.messages) == 1
        target.refusal = None
        await outbox.wait_drained()
    assert len(target.lines) == 5
