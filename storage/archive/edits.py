"""Operators' edits of register reads, kept in the archive file (migration 2).

Why in the archive and not beside the readings: an edit is a decision about a meter's billing
(who, why, when), reviewed with the archive; the readings store keeps what meters said. The
latest edit of a read wins over the stored value, and says it is an edit
(``storage.vee.reads``). Edits are appended, never rewritten: the history is the audit.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from storage.errors import ArchiveError

MIGRATION: Final = """
    CREATE TABLE register_edits (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        meter TEXT NOT NULL,
        day TEXT NOT NULL,
        quantity TEXT NOT NULL,
        value REAL NOT NULL,
        reason TEXT NOT NULL,
        user TEXT NOT NULL,
        at TEXT NOT NULL,
        audit_id TEXT NOT NULL
    );
    CREATE INDEX register_edits_by_meter ON register_edits (meter, day)
    """


@dataclass(frozen=True, slots=True)
class RegisterEdit:
    """An operator's value for one register read (the 00:00 freeze of ``day``)."""

    meter: str
    day: date
    quantity: str
    value: float
    reason: str
    user: str
    at: datetime
    audit_id: str = ""
    """The audit entry written before the edit was stored."""

    def check(self) -> None:
        """Refuse an edit billing could not stand behind, naming what is wrong."""
        where = f"edit of {self.meter} {self.quantity} on {self.day}"
        if not self.reason.strip():
            raise ArchiveError(f"{where}: a reason is required")
        if not self.user.strip():
            raise ArchiveError(f"{where}: the user is required")
        if not math.isfinite(self.value) or self.value < 0:
            raise ArchiveError(f"{where}: value {self.value} is not a register read (>= 0)")
        if self.at.tzinfo is None:
            raise ArchiveError(f"{where}: 'at' needs a UTC offset")


def insert_edit(db: sqlite3.Connection, edit: RegisterEdit) -> None:
    edit.check()
    db.execute(
        "INSERT INTO register_edits (meter, day, quantity, value, reason, user, at, audit_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            edit.meter,
            edit.day.isoformat(),
            edit.quantity,
            edit.value,
            edit.reason,
            edit.user,
            edit.at.astimezone(UTC).isoformat(),
            edit.audit_id,
        ),
    )


def select_edits(
    db: sqlite3.Connection, meters: Sequence[str] | None, start: date, end: date
) -> list[RegisterEdit]:
    """The edits of these meters' reads (every meter's when None) from ``start`` to ``end``
    (included), oldest first."""
    if meters is not None and not meters:
        return []
    chosen = "" if meters is None else f"meter IN ({', '.join('?' for _ in meters)}) AND "
    rows = db.execute(
        f"SELECT * FROM register_edits WHERE {chosen}day >= ? AND day <= ? ORDER BY id",
        (*(meters or ()), start.isoformat(), end.isoformat()),
    ).fetchall()
    return [
        RegisterEdit(
            meter=row["meter"],
            day=date.fromisoformat(row["day"]),
            quantity=row["quantity"],
            value=row["value"],
            reason=row["reason"],
            user=row["user"],
            at=datetime.fromisoformat(row["at"]),
            audit_id=row["audit_id"],
        )
        for row in rows
    ]
