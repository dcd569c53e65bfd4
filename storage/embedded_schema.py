"""The embedded store's point tables, their version, and the migration of older files.

Why a ``series`` table: every reading of a meter repeats its measurement, meter, quantity,
unit and tags, and the first wide ``points`` table stored all of them on every row, plus a
transformer index entry per row. That text was most of a row's bytes and of its B-tree work
(10-15 µs of the store thread per row). Now a row is ``(series, ts_ns, value, quality,
reason)`` under the key ``(series, ts_ns)`` in a WITHOUT ROWID table, so the table is its own
index and the text is kept once per series.

Versions live in ``PRAGMA user_version``: 0 is a file of the wide table (or a new file, told
apart by the table's columns), ``SCHEMA_VERSION`` the narrow one. The migration runs in one
transaction (SQLite's DDL is transactional), so a crash in the middle leaves the old file as
it was and the next open starts again; it refuses to commit unless every old point is in the
new table.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

from storage.errors import LocalStoreFailed
from storage.records import Quality

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
"""``user_version`` of a file with the ``series`` table (0: the wide ``points`` table)."""

QUALITY_CODES: Final[dict[Quality, int]] = {
    Quality.ACTUAL: 0,
    Quality.BACKFILLED: 1,
    Quality.ESTIMATED: 2,
    Quality.MISSING: 3,
}
"""Stored in files: never renumber, only add."""
QUALITY_BY_CODE: Final[dict[int, Quality]] = {code: q for q, code in QUALITY_CODES.items()}

_QUALITY_TEXT_SQL: Final = (
    "CASE p.quality "
    + " ".join(f"WHEN {code} THEN '{quality.value}'" for quality, code in QUALITY_CODES.items())
    + " END"
)
_QUALITY_CODE_SQL: Final = (
    "CASE w.quality "
    + " ".join(f"WHEN '{quality.value}' THEN {code}" for quality, code in QUALITY_CODES.items())
    + " END"
)

POINT_TABLES: Final = f"""
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    meter TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    tags TEXT NOT NULL,
    transformer TEXT,
    UNIQUE (measurement, meter, quantity, unit, tags)
);
CREATE INDEX IF NOT EXISTS series_by_transformer ON series (transformer, meter)
    WHERE transformer IS NOT NULL;
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    value REAL,
    quality INTEGER NOT NULL,
    reason TEXT,
    PRIMARY KEY (series, ts_ns)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS point_rows AS
    SELECT s.measurement, s.meter, s.quantity, p.ts_ns, p.value, s.unit,
           {_QUALITY_TEXT_SQL} AS quality, p.reason, s.transformer, s.tags
    FROM points AS p JOIN series AS s ON s.id = p.series;
"""
"""``point_rows`` shows the points as the wide table had them, for people and for the change
log's one-time seeding; the store itself reads ``series`` and ``points``."""


def prepare_point_tables(connection: sqlite3.Connection, where: str) -> None:
    """Create, or migrate to, the current point tables; on the writer's connection at open."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LocalStoreFailed(
            f"{where}: store version {version} is newer than this head-end's {SCHEMA_VERSION}"
        )
    if version == 0 and "measurement" in _columns(connection, "points"):
        moved = _migrate_wide_points(connection, where)
        log.info(
            "%s: moved %d points to the series schema (version %d)", where, moved, SCHEMA_VERSION
        )
    connection.executescript(POINT_TABLES)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in connection.execute(f"PRAGMA table_info({table})")}


def _migrate_wide_points(connection: sqlite3.Connection, where: str) -> int:
    """Version 0 -> 1 in one transaction; returns how many points were moved."""
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ALTER TABLE points RENAME TO points_wide")
        for statement in POINT_TABLES.split(";"):  # executescript would commit: one by one
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            "INSERT INTO series (measurement, meter, quantity, unit, tags, transformer) "
            "SELECT measurement, meter, quantity, unit, tags, min(transformer) FROM points_wide "
            "GROUP BY measurement, meter, quantity, unit, tags "
            "ORDER BY measurement, meter, quantity, unit, tags"
        )
        connection.execute(
            "INSERT INTO points (series, ts_ns, value, quality, reason) "
            f"SELECT s.id, w.ts_ns, w.value, {_QUALITY_CODE_SQL}, w.reason "
            "FROM points_wide AS w JOIN series AS s ON s.measurement = w.measurement "
            "AND s.meter = w.meter AND s.quantity = w.quantity AND s.unit = w.unit "
            "AND s.tags = w.tags ORDER BY s.id, w.ts_ns"
        )
        [(old,)] = connection.execute("SELECT count(*) FROM points_wide").fetchall()
        [(new,)] = connection.execute("SELECT count(*) FROM points").fetchall()
        if old != new:
            raise LocalStoreFailed(
                f"{where}: migration to version {SCHEMA_VERSION} moved {new} of {old} points; "
                "the file is left as it was"
            )
        connection.execute("DROP TABLE points_wide")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return int(new)
