"""``<data-dir>/handoffs.sqlite``: every hand-off made, where it went, and the change-log cursor.

Why a ledger: after a restart the head-end must neither send every day again nor forget a POST
the webhook never acknowledged. A hand-off is recorded with a pending delivery per
destination in one transaction, after its files are on disk; a delivery becomes ``delivered``
only once the destination acknowledged it. The correction cursor is advanced after the
corrections it led to are recorded, so a crash in between only makes the next pass look at the
same entries again. WAL and
``synchronous=FULL`` as the archive and the KPI file: what was recorded is on disk.

Each hand-off of a day has a ``sequence``: 0 is the daily one, 1, 2, ... its corrections. It
covers the change-log entries of the day with ``after < seq <= upto``: the daily one
``after = 0``, each correction ``after`` = the previous hand-off's ``upto``, so applying them
in sequence order gives the day as the store held it at the last ``upto``.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Final

from storage.durable_file import DurableFile, connect_versioned
from storage.errors import HandoffLedgerError

LEDGER_FILE: Final = "handoffs.sqlite"
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS handoffs (
    day TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    after INTEGER NOT NULL,
    upto INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    files TEXT NOT NULL,
    made_at TEXT NOT NULL,
    PRIMARY KEY (day, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    day TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    delivered_at TEXT,
    PRIMARY KEY (day, sequence, destination)
) WITHOUT ROWID;
"""
_FIRST_DAY: Final = "first_day"
_CURSOR: Final = "cursor"


class HandoffKind(enum.StrEnum):
    DAILY = "daily"
    CORRECTION = "correction"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"


class Destination(enum.StrEnum):
    FOLDER = "folder"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class Delivery:
    destination: Destination
    state: DeliveryState
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    day: date
    """Billing's day: the local date of the freeze (the reads of the day that ended then)."""
    sequence: int
    after: int
    upto: int
    rows: int
    """Settlement rows (reads) in the hand-off."""
    files: tuple[str, ...]
    """The file names (settlement first, then the KPI report)."""
    made_at: datetime
    deliveries: tuple[Delivery, ...] = ()

    @property
    def kind(self) -> HandoffKind:
        return HandoffKind.DAILY if self.sequence == 0 else HandoffKind.CORRECTION


class HandoffLedger(DurableFile):
    """Open with ``HandoffLedger.open(path)``; use as a context manager or ``close()``."""

    @classmethod
    def open(cls, path: Path | str) -> HandoffLedger:
        where = Path(path)
        db = connect_versioned(
            where, _SCHEMA, SCHEMA_VERSION, what="hand-off ledger", error=HandoffLedgerError
        )
        return cls(db, where)

    # -- settings ----------------------------------------------------------------------------

    def first_day(self) -> date | None:
        """The first day the hand-off runs for (set at its first start)."""
        text = self._setting(_FIRST_DAY)
        return None if text is None else date.fromisoformat(text)

    def begin(self, day: date, cursor: int) -> date:
        """At the first start: hand-offs begin with ``day``, corrections after ``cursor``.
        Later calls change nothing. Returns the first day."""
        with self._writing() as db:
            db.execute(
                "INSERT OR IGNORE INTO settings VALUES (?, ?)", (_FIRST_DAY, day.isoformat())
            )
            db.execute("INSERT OR IGNORE INTO settings VALUES (?, ?)", (_CURSOR, str(cursor)))
        first = self.first_day()
        assert first is not None
        return first

    def cursor(self) -> int:
        """The change-log ``seq`` up to which corrections were looked for."""
        text = self._setting(_CURSOR)
        return 0 if text is None else int(text)

    def set_cursor(self, cursor: int) -> None:
        with self._writing() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (_CURSOR, str(cursor)))

    # -- hand-offs ---------------------------------------------------------------------------

    def record(
        self,
        handoff: Handoff,
        destinations: Iterable[Destination],
        *,
        cursor: int | None = None,
    ) -> Handoff:
        """Keep a hand-off whose files are written: the folder is delivered by then, a webhook
        pending. ``cursor`` (corrections) is advanced in the same transaction."""
        deliveries = tuple(
            Delivery(d, DeliveryState.DELIVERED, delivered_at=handoff.made_at)
            if d is Destination.FOLDER
            else Delivery(d, DeliveryState.PENDING)
            for d in destinations
        )
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO handoffs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    handoff.day.isoformat(),
                    handoff.sequence,
                    handoff.after,
                    handoff.upto,
                    handoff.rows,
                    "\n".join(handoff.files),
                    handoff.made_at.isoformat(),
                ),
            )
            db.executemany(
                "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, 0, NULL, ?)",
                [
                    (
                        handoff.day.isoformat(),
                        handoff.sequence,
                        d.destination.value,
                        d.state.value,
                        None if d.delivered_at is None else d.delivered_at.isoformat(),
                    )
                    for d in deliveries
                ],
            )
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (_CURSOR, str(cursor)))
        return replace(handoff, deliveries=deliveries)

    def attempted(
        self,
        handoff: Handoff,
        destination: Destination,
        at: datetime,
        error: str | None,
    ) -> None:
        """One attempt to deliver: delivered when ``error`` is None, else still pending."""
        state = DeliveryState.DELIVERED if error is None else DeliveryState.PENDING
        with self._writing() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?, "
                "delivered_at = ? WHERE day = ? AND sequence = ? AND destination = ?",
                (
                    state.value,
                    error,
                    at.isoformat() if error is None else None,
                    handoff.day.isoformat(),
                    handoff.sequence,
                    destination.value,
                ),
            )

    def handoffs(self, start: date | None = None, end: date | None = None) -> list[Handoff]:
        """Every hand-off of the days ``start`` .. ``end`` (both included), by day and sequence."""
        low = start.isoformat() if start else ""
        high = end.isoformat() if end else "9999-12-31"
        return self._select("WHERE day >= ? AND day <= ?", (low, high))

    def latest(self, day: date) -> Handoff | None:
        """The last hand-off of ``day`` (its highest sequence), or None if it was never made."""
        found = self._select("WHERE day = ?", (day.isoformat(),))
        return found[-1] if found else None

    def last_daily_day(self) -> date | None:
        row = self._db.execute("SELECT max(day) FROM handoffs WHERE sequence = 0").fetchone()
        return None if row[0] is None else date.fromisoformat(row[0])

    def pending(self, destination: Destination) -> list[Handoff]:
        """The hand-offs not yet delivered to ``destination``, oldest first."""
        return self._select(
            "WHERE EXISTS (SELECT 1 FROM deliveries AS d WHERE d.day = handoffs.day "
            "AND d.sequence = handoffs.sequence AND d.destination = ? AND d.state = ?)",
            (destination.value, DeliveryState.PENDING.value),
        )

    # -- internals ---------------------------------------------------------------------------

    def _setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._transaction() as db:
                yield db
        except sqlite3.Error as exc:
            raise HandoffLedgerError(f"{self.path}: cannot write: {exc}") from exc

    def _select(self, where: str, args: Sequence[object]) -> list[Handoff]:
        try:
            rows = self._db.execute(
                f"SELECT day, sequence, after, upto, rows, files, made_at FROM handoffs {where} "
                "ORDER BY day, sequence",
                tuple(args),
            ).fetchall()
            deliveries: dict[tuple[str, int], list[Delivery]] = {}
            for row in self._db.execute(
                "SELECT day, sequence, destination, state, attempts, last_error, delivered_at "
                "FROM deliveries ORDER BY destination"
            ):
                deliveries.setdefault((row[0], int(row[1])), []).append(_delivery(row))
        except sqlite3.Error as exc:
            raise HandoffLedgerError(f"{self.path}: cannot read the hand-offs: {exc}") from exc
        return [
            Handoff(
                day=date.fromisoformat(row[0]),
                sequence=int(row[1]),
                after=int(row[2]),
                upto=int(row[3]),
                rows=int(row[4]),
                files=tuple(row[5].split("\n")) if row[5] else (),
                made_at=datetime.fromisoformat(row[6]),
                deliveries=tuple(deliveries.get((row[0], int(row[1])), ())),
            )
            for row in rows
        ]


def _delivery(row: Sequence[object]) -> Delivery:
    try:
        destination = Destination(str(row[2]))
        state = DeliveryState(str(row[3]))
    except ValueError:
        raise HandoffLedgerError(
            f"hand-off ledger: {row[0]} #{row[1]}: unknown destination or state "
            f"{row[2]!r}/{row[3]!r}"
        ) from None
    delivered = row[6]
    return Delivery(
        destination,
        state,
        attempts=int(str(row[4])),
        last_error=None if row[5] is None else str(row[5]),
        delivered_at=None if delivered is None else datetime.fromisoformat(str(delivered)),
    )
