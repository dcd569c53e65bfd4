"""A store file as the embedded store wrote it before the ``series`` table (version 0).

The migration tests need such a file, and the code that wrote it is gone; this writes the same
tables (the DDL is the old ``storage/embedded.py`` SCHEMA, verbatim) and rows the way that
store did: one wide row per point, its change log entries through the real ``log_changes``.
Checked once by hand against a file written by the old code (same ``.dump`` of every table).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from storage.exports.change_log import CHANGE_LOG_SCHEMA, log_changes
from storage.line_protocol import timestamp_ns
from storage.records import Reading
from storage.schema import MEASUREMENT_BY_KIND

WIDE_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS points (
    measurement TEXT NOT NULL,
    meter TEXT NOT NULL,
    quantity TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    value REAL,
    unit TEXT NOT NULL,
    quality TEXT NOT NULL,
    reason TEXT,
    transformer TEXT,
    tags TEXT NOT NULL,
    PRIMARY KEY (measurement, meter, quantity, ts_ns)
) WITHOUT ROWID;
DROP INDEX IF EXISTS points_by_transformer;
CREATE INDEX IF NOT EXISTS points_by_transformer_meter ON points (transformer, meter)
    WHERE transformer IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    meter TEXT NOT NULL,
    event TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    severity TEXT NOT NULL,
    active INTEGER NOT NULL,
    value REAL,
    detail TEXT NOT NULL,
    quality TEXT NOT NULL,
    tags TEXT NOT NULL,
    PRIMARY KEY (meter, event, ts_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    record TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collection (
    meter TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    attempted INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    latency_s REAL,
    reason TEXT,
    tags TEXT NOT NULL,
    PRIMARY KEY (meter, ts_ns)
) WITHOUT ROWID;
"""


def wide_row(reading: Reading) -> tuple[object, ...]:
    """The old ``points`` row of a reading."""
    return (
        MEASUREMENT_BY_KIND[reading.kind],
        reading.meter,
        reading.quantity,
        timestamp_ns(reading.timestamp),
        reading.value,
        reading.unit,
        reading.quality.value,
        reading.reason,
        reading.tags.get("transformer"),
        json.dumps(dict(sorted(reading.tags.items())), ensure_ascii=False, separators=(",", ":")),
    )


def write_wide_store(path: Path, batches: Sequence[Sequence[Reading]]) -> None:
    """Create ``path`` as the old store would have after writing ``batches`` in turn."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(WIDE_SCHEMA + CHANGE_LOG_SCHEMA)
        for batch in batches:
            rows = sorted((wide_row(reading) for reading in batch), key=lambda row: row[:4])
            with connection:
                connection.execute("BEGIN")
                connection.executemany(
                    "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?)", rows
                )
                log_changes(connection, rows)
    finally:
        connection.close()


def rewrite_as_wide(path: Path) -> int:
    """Turn a store file of the series schema back into the wide table, as the old head-end
    would have left the same points (a system test's "before the upgrade"); the store must be
    closed. Returns how many points the wide table holds."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        rows = connection.execute(
            "SELECT measurement, meter, quantity, ts_ns, value, unit, quality, reason, "
            "transformer, tags FROM point_rows"
        ).fetchall()
        connection.executescript(
            "DROP VIEW point_rows; DROP TABLE points; DROP TABLE series; PRAGMA user_version = 0;"
        )
        connection.executescript(WIDE_SCHEMA)
        with connection:
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    finally:
        connection.close()
    return len(rows)
