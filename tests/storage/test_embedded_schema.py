"""A store file of the wide ``points`` table migrates on open, losing no point, or not at all."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.billing import StoredPoint, billing_report
from storage.embedded import SqliteStore
from storage.embedded_schema import SCHEMA_VERSION
from storage.errors import LocalStoreFailed
from storage.records import Quality, Reading, ReadingKind
from tests.storage.billing_cases import CHINA, DAY1, DAY3, QUANTITY, check_report, scenario
from tests.storage.wide_store import write_wide_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def wide_file(path: Path) -> list[Reading]:
    """The billing scenario written by the old store in three batches (one repeated)."""
    readings = scenario()
    write_wide_store(path, [readings[:5], readings[5:], readings[:3]])
    return readings


def table_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


async def all_points(store: SqliteStore, readings: list[Reading]) -> list[StoredPoint]:
    meters = sorted({r.meter for r in readings})
    start = min(r.timestamp for r in readings)
    end = max(r.timestamp for r in readings) + timedelta(seconds=1)
    points: list[StoredPoint] = []
    for kind in (ReadingKind.FROZEN, ReadingKind.ENERGY):
        points += await store.stored_points(kind, meters, [QUANTITY], start, end)
    return points


async def test_every_point_and_change_log_entry_survives_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    readings = wide_file(path)
    before = table_rows(
        path,
        "SELECT measurement, meter, quantity, ts_ns, value, unit, quality, reason, transformer, "
        "tags FROM points ORDER BY measurement, meter, quantity, ts_ns",
    )
    log_before = table_rows(path, "SELECT * FROM change_log ORDER BY seq")
    store = await SqliteStore.open(path)
    try:
        points = await all_points(store, readings)
        report = await billing_report(store, transformer="T1", start=DAY1, end=DAY3, tz=CHINA)
        assert [c.seq for c in await store.changes(0, 100)] == [row[0] for row in log_before]
    finally:
        await store.aclose()
    # 6 frozen + 4 energy readings, all distinct keys: 10 points before and after.
    assert len(before) == 10
    assert len(points) == 10
    after = table_rows(
        path,
        "SELECT measurement, meter, quantity, ts_ns, value, unit, quality, reason, transformer, "
        "tags FROM point_rows ORDER BY measurement, meter, quantity, ts_ns",
    )
    assert after == before
    assert table_rows(path, "SELECT * FROM change_log ORDER BY seq") == log_before
    assert table_rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert "measurement" not in {row[1] for row in table_rows(path, "PRAGMA table_info(points)")}
    check_report(report)


async def test_the_change_log_goes_on_after_the_migration(tmp_path: Path) -> None:
    """Old entries keep their numbers; a value stored again adds none; a new one is next."""
    path = tmp_path / "store.db"
    readings = wide_file(path)
    last = len(table_rows(path, "SELECT seq FROM change_log"))  # AUTOINCREMENT from 1, no gaps
    store = await SqliteStore.open(path)
    try:
        await store.write(readings)
        unchanged = await store.changes(last, 100)
        corrected = Reading(
            "M2",
            QUANTITY,
            6.0,
            "kWh",
            readings[4].timestamp,
            ReadingKind.FROZEN,
            Quality.BACKFILLED,
            tags=readings[4].tags,
        )
        await store.write([corrected])
        new = await store.changes(last, 100)
    finally:
        await store.aclose()
    assert unchanged == []
    assert [(c.seq, c.meter, c.value, c.quality) for c in new] == [
        (last + 1, "M2", 6.0, Quality.BACKFILLED)
    ]


async def test_a_migrated_file_opens_again_without_migrating(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    readings = wide_file(path)
    for _ in range(2):
        store = await SqliteStore.open(path)
        try:
            assert len(await all_points(store, readings)) == 10
        finally:
            await store.aclose()
    # M1, M2 and M9 frozen, M1 energy: M1's four frozen points (every quality) are one series.
    assert table_rows(path, "SELECT count(*) FROM series") == [(4,)]


async def test_a_failed_migration_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    """One transaction: a row the new schema cannot hold (a quality no version wrote) stops it,
    and every table, the wide points among them, is as before."""
    path = tmp_path / "store.db"
    wide_file(path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE points SET quality = 'guessed' WHERE meter = 'M9'")
    before = table_rows(path, "SELECT * FROM points ORDER BY 1, 2, 3, 4")
    with pytest.raises(LocalStoreFailed, match=r"store\.db: opening.*NOT NULL"):
        await SqliteStore.open(path)
    assert table_rows(path, "SELECT * FROM points ORDER BY 1, 2, 3, 4") == before
    assert table_rows(path, "PRAGMA user_version") == [(0,)]
    names = {row[0] for row in table_rows(path, "SELECT name FROM sqlite_master")}
    assert "series" not in names
    assert "points_wide" not in names


async def test_a_file_of_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LocalStoreFailed, match=rf"version {SCHEMA_VERSION + 1} is newer"):
        await SqliteStore.open(path)


KILL_MID_MIGRATION = """
import os, signal, sqlite3, sys
from storage.embedded_schema import prepare_point_tables

connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode=WAL")
calls = 0

def kill_soon() -> int:
    global calls
    calls += 1
    if calls == 20:
        print("killed in its transaction:", connection.in_transaction, file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return 0

connection.set_progress_handler(kill_soon, 100)
prepare_point_tables(connection, sys.argv[1])
"""


def kill_during_migration(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", KILL_MID_MIGRATION, str(path)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
        check=False,
    )


async def test_a_migration_killed_midway_is_done_again_at_the_next_open(tmp_path: Path) -> None:
    """kill -9 inside the migration's transaction: the file is the old one, and the next open
    migrates it with every point."""
    path = tmp_path / "store.db"
    readings = [
        Reading(f"M{n:03d}", QUANTITY, float(n), "kWh", T, ReadingKind.ENERGY, tags={"t": "T1"})
        for n in range(300)
        for T in (T0, T0 + timedelta(minutes=15))
    ]
    write_wide_store(path, [readings])
    killed = kill_during_migration(path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert b"killed in its transaction: True" in killed.stderr
    assert table_rows(path, "PRAGMA user_version") == [(0,)]
    assert table_rows(path, "SELECT count(*) FROM points") == [(600,)]
    store = await SqliteStore.open(path)
    try:
        stored = await store.stored_points(
            ReadingKind.ENERGY,
            sorted({r.meter for r in readings}),
            [QUANTITY],
            T0,
            T0 + timedelta(hours=1),
        )
    finally:
        await store.aclose()
    assert [(p.meter, p.timestamp, p.value) for p in stored] == [
        (r.meter, r.timestamp, r.value) for r in readings
    ]
    assert table_rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
