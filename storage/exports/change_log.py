"""The change log of billing reads: every frozen value the embedded store keeps, numbered.

Why a log and not a time window: a billing system that polls "what is new since my last call"
by reading time would miss a value backfilled today for last week, and one that asks again for
an overlapping window would get duplicates. Here each stored frozen value gets a sequence
number (``seq``, SQLite ``AUTOINCREMENT``: never reused, always increasing) in the same
transaction that stores it, so:

- no gaps: SQLite has one writer at a time and a reader sees only committed transactions, so a
  reader that has seen ``seq`` N has seen every entry below N; polling ``since=N`` continues
  exactly after it;
- no duplicates: an entry is written only when the stored value or quality of its (meter,
  register, freeze time) differs from that key's latest entry, so a batch written twice (the
  outbox retrying after a crash, a re-read of a day already stored) adds nothing;
- a corrected value (a backfill replacing an estimate) is a new entry with a higher ``seq``:
  the consumer keeps the last entry of each key.

Failed reads (no value) are not billing reads and are not logged.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

from storage.billing import parse_quality
from storage.line_protocol import from_ns
from storage.records import Quality

LOGGED_MEASUREMENT: Final = "frozen"
"""The points whose changes are logged: daily frozen register values (what billing settles)."""
MAX_PAGE: Final = 50_000

CHANGE_LOG_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    meter TEXT NOT NULL,
    quantity TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    quality TEXT NOT NULL,
    tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_log_by_key ON change_log (meter, quantity, ts_ns, seq);
CREATE INDEX IF NOT EXISTS change_log_by_time ON change_log (ts_ns, seq);
"""

_LOG_IF_CHANGED: Final = """
INSERT INTO change_log (meter, quantity, ts_ns, value, unit, quality, tags)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
WHERE NOT EXISTS (
    SELECT 1 FROM (
        SELECT value, quality FROM change_log
        WHERE meter = ?1 AND quantity = ?2 AND ts_ns = ?3 ORDER BY seq DESC LIMIT 1
    ) AS latest
    WHERE latest.value = ?4 AND latest.quality = ?6
)
"""
"""Log a value unless it equals its key's latest entry: one statement run by ``executemany``,
no Python round trip per row."""


@dataclass(frozen=True, slots=True)
class ChangedReading:
    """One entry of the log: a frozen register value as it was stored, with its number."""

    seq: int
    meter: str
    quantity: str
    timestamp: datetime
    value: float
    unit: str
    quality: Quality
    tags: dict[str, str] = field(default_factory=dict)
    """The fleet position the producer tagged it with when it was stored."""


@runtime_checkable
class ChangeSource(Protocol):
    """A store that keeps the change log (the embedded store)."""

    async def changes(self, since: int, limit: int) -> list[ChangedReading]:
        """Entries with ``seq > since``, in ``seq`` order, at most ``limit``."""


class ChangeRow(NamedTuple):
    """A log entry as stored (the daily hand-off formats hundreds of thousands of them: no
    datetime, enum or tag dict is made per row; ``ChangedReading`` is the parsed form)."""

    seq: int
    meter: str
    quantity: str
    ts_ns: int
    value: float
    unit: str
    quality: str
    tags: str
    """The tags as stored (JSON text)."""


@dataclass(frozen=True, slots=True)
class DayPage:
    """Which entries of a span of freeze times to read: those with ``after < seq <= upto``
    that no later entry up to ``upto`` replaced, from ``position`` (exclusive) on."""

    start_ns: int
    end_ns: int
    after: int
    upto: int
    position: tuple[int, int] | None = None
    """(ts_ns, seq) of the last entry of the previous page; None: from ``start_ns``."""


@runtime_checkable
class DayChangeSource(ChangeSource, Protocol):
    """A change log that can also be read by freeze time (the daily hand-off)."""

    async def last_change(self) -> int:
        """The highest ``seq`` logged (0 when none)."""

    async def day_changes(self, page: DayPage, limit: int) -> list[ChangeRow]:
        """One page of ``select_day``, in (freeze time, ``seq``) order."""


def log_changes(connection: sqlite3.Connection, points: Iterable[Sequence[Any]]) -> int:
    """Log the frozen rows of a batch being stored; call inside the batch's transaction.

    ``points`` are the embedded store's rows: (measurement, meter, quantity, ts_ns, value,
    unit, quality, reason, transformer, tags text). Returns how many entries were added.
    """
    rows = [
        (row[1], row[2], row[3], row[4], row[5], row[6], row[9])
        for row in points
        if row[0] == LOGGED_MEASUREMENT and row[4] is not None
    ]
    return log_rows(connection, rows)


def log_rows(connection: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
    """Log change-log rows (meter, quantity, ts_ns, value, unit, quality, tags text) unless
    equal to their key's latest entry; call inside a transaction. Returns how many were added."""
    if not rows:
        return 0
    before = connection.total_changes
    connection.executemany(_LOG_IF_CHANGED, rows)
    return connection.total_changes - before


def seed_change_log(connection: sqlite3.Connection) -> int:
    """A store written before the change log existed: its frozen values become the first
    entries (by freeze time, meter, register), once, so the first poll gets the history too.
    Returns how many were added (0 once the log has any entry)."""
    if connection.execute("SELECT 1 FROM change_log LIMIT 1").fetchone() is not None:
        return 0
    with connection:
        connection.execute("BEGIN")
        cursor = connection.execute(
            "INSERT INTO change_log (meter, quantity, ts_ns, value, unit, quality, tags) "
            "SELECT meter, quantity, ts_ns, value, unit, quality, tags FROM point_rows "
            "WHERE measurement = ? AND value IS NOT NULL ORDER BY ts_ns, meter, quantity",
            (LOGGED_MEASUREMENT,),
        )
    return max(cursor.rowcount, 0)


def select_changes(connection: sqlite3.Connection, since: int, limit: int) -> list[ChangedReading]:
    """The entries after ``since`` (``seq`` order), at most ``limit`` (capped at ``MAX_PAGE``)."""
    if since < 0:
        raise ValueError(f"change log cursor {since} is negative")
    if limit < 1:
        raise ValueError(f"change log page of {limit} entries: at least 1")
    rows = connection.execute(
        "SELECT seq, meter, quantity, ts_ns, value, unit, quality, tags FROM change_log "
        "WHERE seq > ? ORDER BY seq LIMIT ?",
        (since, min(limit, MAX_PAGE)),
    )
    return [_changed(row) for row in rows]


_LATEST_ONLY: Final = """
AND seq > :after AND seq <= :upto
AND NOT EXISTS (
    SELECT 1 FROM change_log AS later
    WHERE later.meter = entry.meter AND later.quantity = entry.quantity
    AND later.ts_ns = entry.ts_ns AND later.seq > entry.seq AND later.seq <= :upto
)
"""
_COLUMNS: Final = (
    "SELECT seq, meter, quantity, ts_ns, value, unit, quality, tags FROM change_log AS entry"
)
_SAME_TIME: Final = (
    f"{_COLUMNS} WHERE ts_ns = :ts AND seq > :seq {_LATEST_ONLY} ORDER BY seq LIMIT :limit"
)
_LATER_TIMES: Final = (
    f"{_COLUMNS} WHERE ts_ns > :ts AND ts_ns < :end {_LATEST_ONLY} ORDER BY ts_ns, seq LIMIT :limit"
)
"""A page goes on after (ts, seq) in two index ranges of ``change_log_by_time``: the rest of
the freeze time ``ts`` (a day's entries mostly share one), then the later times. One row-value
comparison would make SQLite start every page at the first entry of ``ts``: quadratic in the
day. The replaced-entry check is a lookup in ``change_log_by_key``."""


def select_last_seq(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT max(seq) FROM change_log").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def select_day(connection: sqlite3.Connection, page: DayPage, limit: int) -> list[ChangeRow]:
    """The latest entry (as of ``page.upto``) of each key frozen in ``[start_ns, end_ns)`` and
    logged after ``page.after``: a day's reads (``after`` 0) or what changed in a day since a
    hand-off (``after`` its ``upto``). Page on with the last row's (ts_ns, seq)."""
    if limit < 1:
        raise ValueError(f"change log page of {limit} entries: at least 1")
    wanted = min(limit, MAX_PAGE)
    where = {"after": page.after, "upto": page.upto, "end": page.end_ns, "limit": wanted}
    rows: list[ChangeRow] = []
    if page.position is None:
        where["ts"] = page.start_ns - 1
    else:
        where["ts"], where["seq"] = page.position
        rows.extend(map(ChangeRow._make, connection.execute(_SAME_TIME, where)))
    if len(rows) < wanted:
        where["limit"] = wanted - len(rows)
        rows.extend(map(ChangeRow._make, connection.execute(_LATER_TIMES, where)))
    return rows


def parsed(row: ChangeRow) -> ChangedReading:
    """The parsed form of a stored entry."""
    return _changed(row)


def _changed(row: Sequence[Any]) -> ChangedReading:
    return ChangedReading(
        seq=int(row[0]),
        meter=row[1],
        quantity=row[2],
        timestamp=from_ns(row[3]),
        value=float(row[4]),
        unit=row[5],
        quality=parse_quality(row[6], f"change log entry {row[0]}"),
        tags=_tags(row[7]),
    )


def _tags(text: str) -> dict[str, str]:
    loaded = json.loads(text) if text else {}
    if not isinstance(loaded, dict):
        return {}
    return {str(key): str(value) for key, value in loaded.items()}
