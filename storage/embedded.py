"""The embedded default store: SQLite in WAL mode, no server needed.

Why SQLite: it ships with Python, survives kill -9 and power loss once a transaction commits,
WAL lets billing queries read while collection writes, and a small site (a few thousand meters
at 15-minute intervals) is well within what one file handles. Points with the same measurement,
meter, quantity and timestamp overwrite each other, as in InfluxDB.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Final

from storage.archive.records import MeterExchange
from storage.billing import StoredPoint, parse_quality
from storage.embedded_schema import QUALITY_BY_CODE, prepare_point_tables
from storage.errors import RecordError, local_store_error
from storage.exports.change_log import (
    CHANGE_LOG_SCHEMA,
    ChangedReading,
    ChangeRow,
    DayPage,
    log_changes,
    seed_change_log,
    select_changes,
    select_day,
    select_last_seq,
)
from storage.exports.estimate_log import WATERMARK_SCHEMA, log_estimates
from storage.exports.exchange_log import log_exchange_reads
from storage.line_protocol import from_ns, timestamp_ns
from storage.records import (
    CollectionOutcome,
    CollectionStatus,
    EventRecord,
    Reading,
    ReadingKind,
    Severity,
)
from storage.schema import MEASUREMENT_BY_KIND, Record
from storage.series import SeriesIds, tags_json
from storage.sqlite_thread import SqliteThread

log = logging.getLogger(__name__)


SCHEMA: Final = """
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


_METERS_OF_TRANSFORMER: Final = """
SELECT DISTINCT meter FROM series AS s
WHERE transformer = ? AND EXISTS (SELECT 1 FROM points WHERE series = s.id)
ORDER BY meter
"""
"""A series of the transformer counts once it holds a point: a point overwritten by the same
meter's series under another transformer no longer puts the meter here."""

_STORED_POINTS: Final = (
    "SELECT s.meter, s.quantity, p.ts_ns, p.value, s.unit, p.quality, p.reason "
    "FROM series AS s JOIN points AS p ON p.series = s.id "
    "WHERE s.measurement = ? AND s.meter IN ({meters}) AND s.quantity IN ({quantities}) "
    "AND p.ts_ns >= ? AND p.ts_ns < ? ORDER BY s.meter, s.quantity, p.ts_ns"
)


class SqliteStore:
    """Sink and BillingSource on one SQLite file. Create with ``await SqliteStore.open(path)``.

    Billing and history reads run on a second, read-only connection with its own thread: a
    large billing request then neither blocks the event loop nor queues collection's writes
    behind it (WAL lets the reader and the writer work at once).
    """

    def __init__(self, thread: SqliteThread, reader: SqliteThread, series: SeriesIds) -> None:
        self._thread = thread
        self._reader = reader
        self._series = series
        self._dead_letters = 0

    @property
    def dead_letters(self) -> int:
        """Records refused since open (each is in the ``dead_letter`` table with its error)."""
        return self._dead_letters

    @classmethod
    async def open(cls, path: Path | str, *, max_bytes: int | None = None) -> SqliteStore:
        """Open (creating if needed) the store at ``path``; a file of an older schema is
        migrated first (``storage.embedded_schema``).

        ``max_bytes`` is a disk budget (SQLite's ``max_page_count``): past it a write raises
        StorageFull exactly as a full disk does, so a site can keep room for the rest.
        """
        thread = SqliteThread(Path(path))
        await thread.open(SCHEMA + CHANGE_LOG_SCHEMA + WATERMARK_SCHEMA)
        series = SeriesIds()

        def prepare(connection: sqlite3.Connection) -> None:
            prepare_point_tables(connection, f"embedded store {path}")
            seed_change_log(connection)  # a store from before the change log: once
            series.load(connection)

        try:
            await thread.run(prepare)
        except sqlite3.Error as exc:
            await thread.close()
            raise local_store_error(exc, f"embedded store {path}: opening") from exc
        except BaseException:
            await thread.close()
            raise
        if max_bytes is not None:

            def limit(connection: sqlite3.Connection) -> None:
                page_size = int(connection.execute("PRAGMA page_size").fetchone()[0])
                connection.execute(f"PRAGMA max_page_count={max(1, max_bytes // page_size)}")

            await thread.run(limit)
        reader = SqliteThread(Path(path))
        await reader.open("PRAGMA query_only = ON;")
        return cls(thread, reader, series)

    async def write(self, batch: Sequence[Record]) -> None:
        """Store the batch in one transaction; returns once it is committed to disk.

        A record that cannot be stored (a NaN value) goes to the ``dead_letter`` table in the
        same transaction, named in the log; it never holds back the rest of the batch. The
        rows are made on the store's thread, where the series ids are, which also keeps that
        work off the event loop.
        """
        series = self._series

        def insert(connection: sqlite3.Connection) -> int:
            readings: list[Reading] = []
            events: list[tuple[Any, ...]] = []
            statuses: list[tuple[Any, ...]] = []
            refused: list[tuple[int, str, str]] = []
            for record in batch:
                if isinstance(record, Reading):
                    readings.append(record)
                    continue
                try:
                    if isinstance(record, EventRecord):
                        events.append(_event_row(record))
                    elif isinstance(record, CollectionStatus):
                        statuses.append(_status_row(record))
                    else:
                        raise RecordError(
                            f"cannot store {type(record).__name__}: not a storage record"
                        )
                except RecordError as exc:
                    log.error("embedded store dead-lettered a record: %s", exc)
                    refused.append((time.time_ns(), repr(record), str(exc)))
            try:
                with connection:
                    connection.execute("BEGIN")
                    points = series.batch(connection, readings)
                    if points.replaced:
                        connection.executemany(
                            "DELETE FROM points WHERE series = ? AND ts_ns = ?", points.replaced
                        )
                    connection.executemany(
                        "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?)", points.rows
                    )
                    log_changes(connection, points.frozen)  # same transaction: stored <=> logged
                    connection.executemany(
                        "INSERT OR REPLACE INTO events VALUES (?,?,?,?,?,?,?,?,?)", events
                    )
                    connection.executemany(
                        "INSERT OR REPLACE INTO collection VALUES (?,?,?,?,?,?,?,?)", statuses
                    )
                    refused += points.refused
                    connection.executemany(
                        "INSERT INTO dead_letter (created_ns, record, error) VALUES (?, ?, ?)",
                        refused,
                    )
            except BaseException:
                series.rollback()
                raise
            series.commit()
            return len(refused)

        try:
            refused = await self._thread.run(insert)
        except (sqlite3.Error, OSError) as exc:
            raise local_store_error(exc, f"embedded store {self._thread.path}") from exc
        self._dead_letters += refused

    async def meters_of_transformer(self, transformer: str) -> list[str]:
        """Meters that have stored points tagged with this transformer."""

        def select(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(_METERS_OF_TRANSFORMER, (transformer,))
            return [str(row[0]) for row in rows if row[0] is not None]

        return await self._reader.run(select)

    async def stored_points(
        self,
        kind: ReadingKind,
        meters: Sequence[str],
        quantities: Sequence[str],
        start: datetime,
        end: datetime,
    ) -> list[StoredPoint]:
        """Points of one kind for these meters and quantities, ``start <= t < end``."""
        if not meters or not quantities:
            return []
        sql = _STORED_POINTS.format(
            meters=",".join("?" * len(meters)), quantities=",".join("?" * len(quantities))
        )
        args = [
            MEASUREMENT_BY_KIND[kind],
            *meters,
            *quantities,
            timestamp_ns(start),
            timestamp_ns(end),
        ]

        def select(connection: sqlite3.Connection) -> list[StoredPoint]:
            # Built here, on the reader thread: for a large period this is most of the work.
            return [
                StoredPoint(
                    meter=row[0],
                    quantity=row[1],
                    timestamp=from_ns(row[2]),
                    value=row[3],
                    unit=row[4],
                    quality=QUALITY_BY_CODE.get(row[5])
                    or parse_quality(str(row[5]), f"embedded store row {row[0]}/{row[1]}"),
                    reason=row[6],
                )
                for row in connection.execute(sql, args)
            ]

        return await self._reader.run(select)

    async def log_exchange_reads(self, exchanges: Sequence[MeterExchange]) -> int:
        """Log the meter exchanges' reads not logged yet (``storage.exports.exchange_log``)."""
        listed = list(exchanges)
        try:
            return await self._thread.run(lambda connection: log_exchange_reads(connection, listed))
        except (sqlite3.Error, OSError) as exc:
            raise local_store_error(exc, f"embedded store {self._thread.path}") from exc

    async def log_estimates(self, tz: tzinfo, exchanges: Sequence[MeterExchange]) -> int:
        """Log the lost freezes next to those logged since the last pass, estimated and
        flagged (``storage.exports.estimate_log``)."""
        listed = list(exchanges)
        added, more = 0, True
        try:
            while more:  # one step a job: collection's writes get the writer in between
                step, more = await self._thread.run(lambda db: log_estimates(db, tz, listed))
                added += step
        except (sqlite3.Error, OSError) as exc:
            raise local_store_error(exc, f"embedded store {self._thread.path}") from exc
        return added

    async def changes(self, since: int, limit: int) -> list[ChangedReading]:
        """The change log of frozen values after ``since`` (``storage.exports.change_log``)."""
        return await self._reader.run(lambda connection: select_changes(connection, since, limit))

    async def last_change(self) -> int:
        """The highest change-log ``seq`` (the daily hand-off's ``upto``)."""
        return await self._reader.run(select_last_seq)

    async def day_changes(self, page: DayPage, limit: int) -> list[ChangeRow]:
        """A page of a day's change-log entries (``storage.exports.change_log.select_day``)."""
        return await self._reader.run(lambda connection: select_day(connection, page, limit))

    async def events(
        self,
        *,
        meter: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[EventRecord]:
        """Stored events, oldest first, optionally for one meter and ``start <= t < end``."""
        sql, args = _time_filter("events", meter, start, end)

        def select(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return connection.execute(sql, args).fetchall()

        return [
            EventRecord(
                meter=row[0],
                event=row[1],
                timestamp=from_ns(row[2]),
                severity=Severity(row[3]),
                active=bool(row[4]),
                value=row[5],
                detail=row[6],
                quality=parse_quality(row[7], f"embedded event {row[0]}/{row[1]}"),
                tags=json.loads(row[8]),
            )
            for row in await self._thread.run(select)
        ]

    async def collection_statuses(
        self,
        *,
        meter: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[CollectionStatus]:
        """Stored collection status records, oldest first."""
        sql, args = _time_filter("collection", meter, start, end)

        def select(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return connection.execute(sql, args).fetchall()

        return [
            CollectionStatus(
                meter=row[0],
                timestamp=from_ns(row[1]),
                outcome=CollectionOutcome(row[2]),
                attempted=row[3],
                succeeded=row[4],
                latency_s=row[5],
                reason=row[6],
                tags=json.loads(row[7]),
            )
            for row in await self._thread.run(select)
        ]

    async def aclose(self) -> None:
        """Close the database file."""
        await self._reader.close()
        await self._thread.close()


def _time_filter(
    table: str, meter: str | None, start: datetime | None, end: datetime | None
) -> tuple[str, list[object]]:
    conditions: list[str] = []
    args: list[object] = []
    if meter is not None:
        conditions.append("meter = ?")
        args.append(meter)
    if start is not None:
        conditions.append("ts_ns >= ?")
        args.append(timestamp_ns(start))
    if end is not None:
        conditions.append("ts_ns < ?")
        args.append(timestamp_ns(end))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM {table}{where} ORDER BY ts_ns, meter", args


def _event_row(event: EventRecord) -> tuple[Any, ...]:
    return (
        event.meter,
        event.event,
        timestamp_ns(event.timestamp),
        event.severity.value,
        int(event.active),
        event.value,
        event.detail,
        event.quality.value,
        tags_json(event.tags),
    )


def _status_row(status: CollectionStatus) -> tuple[Any, ...]:
    return (
        status.meter,
        timestamp_ns(status.timestamp),
        status.outcome.value,
        status.attempted,
        status.succeeded,
        status.latency_s,
        status.reason,
        tags_json(status.tags),
    )
