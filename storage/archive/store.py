"""The archive's SQLite file (``<data-dir>/archive.sqlite``): meters and exchanges.

Why SQLite and not the fleet TOML: billing offices change the archive as a spreadsheet of
hundreds of rows, and an exchange must be recorded at once, durably, while the head-end runs.
Schema changes are numbered migrations (``MIGRATIONS``): a file records the last one applied
in ``PRAGMA user_version`` and a newer head-end applies the rest on open, each in its own
transaction. Add a migration at the end; never edit one that shipped.

Calls are synchronous and short (an archive is thousands of rows); the API runs them in a
thread. Every change is one transaction with ``synchronous=FULL``: an import or an exchange is
whole or absent after a crash.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from storage.archive.diff import ArchiveDiff, diff_meters
from storage.archive.edits import MIGRATION as EDITS_MIGRATION
from storage.archive.edits import RegisterEdit, insert_edit, select_edits
from storage.archive.records import ArchiveMeter, MeterExchange, MeterRole
from storage.durable_file import DurableFile, connect_durable
from storage.errors import ArchiveError

ARCHIVE_FILE: Final = "archive.sqlite"
"""Its name in the data dir."""

MIGRATIONS: Final[Sequence[str]] = (
    # 1: meters and exchanges.
    """
    CREATE TABLE meters (
        id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        protocol TEXT NOT NULL,
        channel TEXT,
        terminal TEXT,
        pn INTEGER,
        plan TEXT,
        account TEXT,
        asset TEXT,
        customer TEXT,
        kind TEXT NOT NULL,
        tariff_scheme TEXT,
        ct_ratio REAL NOT NULL,
        pt_ratio REAL NOT NULL,
        transformer TEXT,
        building TEXT,
        household TEXT,
        phase TEXT,
        installed TEXT,
        removed TEXT
    );
    CREATE TABLE exchanges (
        old_meter TEXT NOT NULL,
        new_meter TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        old_final TEXT NOT NULL,
        new_initial TEXT NOT NULL,
        reason TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (old_meter)
    );
    """,
    # 2: operators' edits of register reads (storage/archive/edits.py).
    EDITS_MIGRATION,
)

_COLUMNS: Final = tuple(f.name for f in fields(ArchiveMeter))
_DATES: Final = frozenset({"installed", "removed"})


def _row_of(meter: ArchiveMeter) -> tuple[Any, ...]:
    values: list[Any] = []
    for name in _COLUMNS:
        value = getattr(meter, name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, MeterRole):
            value = value.value
        values.append(value)
    return tuple(values)


def _meter_of(row: sqlite3.Row) -> ArchiveMeter:
    values: dict[str, Any] = {}
    for name in _COLUMNS:
        value = row[name]
        if name in _DATES and value is not None:
            value = date.fromisoformat(value)
        elif name == "kind":
            value = MeterRole(value)
        values[name] = value
    return ArchiveMeter(**values)


def _exchange_of(row: sqlite3.Row) -> MeterExchange:
    return MeterExchange(
        old_meter=row["old_meter"],
        new_meter=row["new_meter"],
        at=datetime.fromisoformat(row["at"]),
        old_final=json.loads(row["old_final"]),
        new_initial=json.loads(row["new_initial"]),
        reason=row["reason"],
        recorded_at=datetime.fromisoformat(row["recorded_at"]),
    )


class ArchiveStore(DurableFile):
    """One archive file. Open with ``ArchiveStore.open(path)``; close with ``close()``."""

    @classmethod
    def open(cls, path: Path | str) -> ArchiveStore:
        path = Path(path)
        db = connect_durable(path)
        db.row_factory = sqlite3.Row
        migrate(db, str(path))
        return cls(db, path)

    # Reads

    def meters(self) -> list[ArchiveMeter]:
        """Every meter, in id order (removed ones too: their ``removed`` date says so)."""
        rows = self._db.execute("SELECT * FROM meters ORDER BY id").fetchall()
        return [_meter_of(row) for row in rows]

    def meter(self, meter_id: str) -> ArchiveMeter | None:
        row = self._db.execute("SELECT * FROM meters WHERE id = ?", (meter_id,)).fetchone()
        return None if row is None else _meter_of(row)

    def exchanges(self) -> list[MeterExchange]:
        rows = self._db.execute("SELECT * FROM exchanges ORDER BY at, old_meter").fetchall()
        return [_exchange_of(row) for row in rows]

    def exchanges_for(
        self, meter_id: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[MeterExchange]:
        """The exchanges ``meter_id`` was the old or the new meter of, at ``start <= at <
        end`` (either bound open when None), oldest first: what billing and VEE call to
        bridge a period an exchange falls in (``records.consumption_across``)."""
        rows = self._db.execute(
            "SELECT * FROM exchanges WHERE (old_meter = ? OR new_meter = ?) ORDER BY at",
            (meter_id, meter_id),
        ).fetchall()
        found = [_exchange_of(row) for row in rows]
        return [
            exchange
            for exchange in found
            if (start is None or exchange.at >= start) and (end is None or exchange.at < end)
        ]

    def successor(self, meter_id: str) -> str | None:
        """The meter that finally replaced ``meter_id`` through exchanges, None when it was
        never exchanged: how billing resolves a replaced meter's old id."""
        current, seen = meter_id, {meter_id}
        while True:
            row = self._db.execute(
                "SELECT new_meter FROM exchanges WHERE old_meter = ?", (current,)
            ).fetchone()
            if row is None:
                return None if current == meter_id else current
            current = row["new_meter"]
            if current in seen:
                raise ArchiveError(f"archive {self.path}: exchanges of {meter_id} form a loop")
            seen.add(current)

    def predecessors(self, meter_id: str) -> list[str]:
        """The meters ``meter_id`` replaced, most recent first."""
        found: list[str] = []
        current = meter_id
        while True:
            row = self._db.execute(
                "SELECT old_meter FROM exchanges WHERE new_meter = ?", (current,)
            ).fetchone()
            if row is None or row["old_meter"] in found or row["old_meter"] == meter_id:
                return found
            current = row["old_meter"]
            found.append(current)

    def edits_for(self, meters: Sequence[str] | None, start: date, end: date) -> list[RegisterEdit]:
        """Operators' edits of these meters' reads (all when None) in the days given."""
        return select_edits(self._db, meters, start, end)

    # Changes

    def record_edit(self, edit: RegisterEdit) -> None:
        """Keep an operator's edit of a read (audited by the caller before this), durably."""
        with self._transaction() as db:
            insert_edit(db, edit)

    def diff(self, meters: Iterable[ArchiveMeter]) -> ArchiveDiff:
        """What ``import_meters(meters)`` would change, changing nothing (the dry run, with
        the meters exchanges replaced kept as history as the import keeps them)."""
        return self.import_meters(meters, dry_run=True)

    def import_meters(
        self, meters: Iterable[ArchiveMeter], *, dry_run: bool = False
    ) -> ArchiveDiff:
        """Make the archive's meters exactly ``meters`` in one transaction: added, changed and
        removed rows as the diff says. A meter an exchange replaced stays (it is history):
        an import without it keeps it, with its ``removed`` date."""
        wanted = list(meters)
        ids = [meter.id for meter in wanted]
        twice = sorted(meter_id for meter_id, n in Counter(ids).items() if n > 1)
        if twice:
            raise ArchiveError(f"archive import: meter ids given twice: {', '.join(twice)}")
        with self._transaction() as db:
            exchanged = {row[0] for row in db.execute("SELECT old_meter FROM exchanges")}
            current = [_meter_of(row) for row in db.execute("SELECT * FROM meters ORDER BY id")]
            given = set(ids)
            kept_history = [m for m in current if m.id in exchanged and m.id not in given]
            result = diff_meters(current, wanted + kept_history)
            if dry_run:
                return result
            db.execute("DELETE FROM meters")
            db.executemany(
                f"INSERT INTO meters ({', '.join(_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in _COLUMNS)})",
                [_row_of(meter) for meter in wanted + kept_history],
            )
        return result

    def record_exchange(
        self, exchange: MeterExchange, new_meter: ArchiveMeter | None = None
    ) -> None:
        """Record an exchange: the old meter gets its ``removed`` date, the new meter (given,
        or already in the archive) its ``installed`` date; one transaction."""
        if exchange.at.tzinfo is None:
            raise ArchiveError("exchange: 'at' needs a UTC offset")
        if exchange.old_meter == exchange.new_meter:
            raise ArchiveError(f"exchange: old and new meter are both {exchange.old_meter}")
        day = exchange.at.date()
        with self._transaction() as db:
            old_row = db.execute(
                "SELECT * FROM meters WHERE id = ?", (exchange.old_meter,)
            ).fetchone()
            if old_row is None:
                raise ArchiveError(f"exchange: meter {exchange.old_meter} is not in the archive")
            old = _meter_of(old_row)
            if db.execute(
                "SELECT 1 FROM exchanges WHERE old_meter = ?", (exchange.old_meter,)
            ).fetchone():
                raise ArchiveError(f"exchange: meter {exchange.old_meter} was already exchanged")
            if db.execute(
                "SELECT 1 FROM exchanges WHERE new_meter = ?", (exchange.new_meter,)
            ).fetchone():
                raise ArchiveError(
                    f"exchange: meter {exchange.new_meter} already replaced another meter"
                )
            new_row = db.execute(
                "SELECT * FROM meters WHERE id = ?", (exchange.new_meter,)
            ).fetchone()
            if new_row is None and new_meter is None:
                raise ArchiveError(
                    f"exchange: meter {exchange.new_meter} is not in the archive"
                    " (give its address to add it)"
                )
            new = new_meter if new_row is None or new_meter is not None else _meter_of(new_row)
            assert new is not None
            new = replace(new, installed=day, removed=None)
            db.execute("UPDATE meters SET removed = ? WHERE id = ?", (day.isoformat(), old.id))
            db.execute(
                f"INSERT OR REPLACE INTO meters ({', '.join(_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in _COLUMNS)})",
                _row_of(new),
            )
            db.execute(
                "INSERT INTO exchanges VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    exchange.old_meter,
                    exchange.new_meter,
                    exchange.at.astimezone(UTC).isoformat(),
                    json.dumps(dict(exchange.old_final)),
                    json.dumps(dict(exchange.new_initial)),
                    exchange.reason,
                    (exchange.recorded_at or datetime.now(UTC)).isoformat(),
                ),
            )


def migrate(db: sqlite3.Connection, source: str) -> None:
    """Apply the migrations the file has not had yet, each in its own transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise ArchiveError(
            f"archive {source}: schema version {version} is newer than this head-end's"
            f" ({len(MIGRATIONS)})"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def load_archive(path: Path | str) -> list[ArchiveMeter]:
    """The archive's meters as frozen records: the one read other modules use (VEE, line
    loss, KPIs read transformer, building and kind from here)."""
    with ArchiveStore.open(path) as store:
        return store.meters()
