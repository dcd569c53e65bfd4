"""Incidents kept in ``<data-dir>/incidents.sqlite``: every change written through, so the
history survives a restart and can be searched.

One row per incident (the searchable columns plus the whole incident as JSON) and one per
history entry. Writes commit with ``synchronous = FULL`` (fsync'd): an acknowledgement is
answered only once it is on disk. The file is small (an incident per cause, not per alarm)
and written a few times a minute, so it is written from the event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from headend.incidents.errors import IncidentStoreError
from headend.incidents.records import (
    Acknowledgement,
    HistoryEntry,
    HistoryEvent,
    Incident,
    IncidentKind,
    IncidentSeverity,
    IncidentState,
    WorstValue,
)

FILE_NAME = "incidents.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    transformer TEXT,
    building TEXT,
    opened_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    meters TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_order ON incidents (severity_rank DESC, updated_at DESC);
"""


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    state: str = "all"
    """open, acknowledged, cleared or all."""
    transformer: str | None = None
    building: str | None = None
    kind: str | None = None
    q: str | None = None
    """Substring of the subject, the kind or a meter id (case-insensitive)."""
    since: datetime | None = None
    until: datetime | None = None
    """Incidents active at some time in [since, until]."""
    limit: int = 100
    offset: int = 0


class IncidentStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise IncidentStoreError(f"{path}: cannot open the incidents file: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def save(self, incidents: Iterable[Incident]) -> None:
        rows = [_row(i) for i in incidents]
        if not rows:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
                )
        except sqlite3.Error as exc:
            raise IncidentStoreError(f"{self.path}: cannot write incidents: {exc}") from exc

    def load(self) -> list[Incident]:
        rows = self._db.execute("SELECT body FROM incidents").fetchall()
        return [incident_of(json.loads(body)) for (body,) in rows]

    def search(self, query: IncidentQuery) -> tuple[int, list[Incident]]:
        where, args = _where(query)
        total = self._db.execute(f"SELECT count(*) FROM incidents{where}", args).fetchone()[0]
        rows = self._db.execute(
            f"SELECT body FROM incidents{where} ORDER BY severity_rank DESC, updated_at DESC "
            "LIMIT ? OFFSET ?",
            [*args, query.limit, query.offset],
        ).fetchall()
        return int(total), [incident_of(json.loads(body)) for (body,) in rows]


def _where(query: IncidentQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if query.state != "all":
        clauses.append("state = ?")
        args.append(query.state)
    for column in ("transformer", "building", "kind"):
        value = getattr(query, column)
        if value:
            clauses.append(f"{column} = ?")
            args.append(value)
    if query.q:
        like = "%" + query.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like += "%"
        clauses.append(
            "(lower(subject) LIKE ? ESCAPE '\\' OR lower(kind) LIKE ? ESCAPE '\\' "
            "OR lower(meters) LIKE ? ESCAPE '\\')"
        )
        args += [like, like, like]
    if query.since is not None:
        clauses.append("updated_at >= ?")
        args.append(query.since.timestamp())
    if query.until is not None:
        clauses.append("opened_at <= ?")
        args.append(query.until.timestamp())
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _row(incident: Incident) -> tuple[Any, ...]:
    return (
        incident.id,
        incident.kind.value,
        incident.subject,
        incident.state.value,
        incident.severity.rank,
        incident.transformer,
        incident.building,
        incident.opened_at.timestamp(),
        incident.updated_at.timestamp(),
        " ".join(sorted(incident.meters)),
        json.dumps(incident_json(incident, history=True), ensure_ascii=False),
    )


def _at(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def incident_json(incident: Incident, *, history: bool = False) -> dict[str, Any]:
    """The API's JSON of an incident (the contract of docs/api.md), ``history`` optional."""
    ack = incident.acknowledged
    body: dict[str, Any] = {
        "id": incident.id,
        "kind": incident.kind.value,
        "severity": incident.severity.value,
        "state": incident.state.value,
        "transformer": incident.transformer,
        "building": incident.building,
        "subject": incident.subject,
        "opened_at": incident.opened_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "cleared_at": _at(incident.cleared_at),
        "acknowledged": None
        if ack is None
        else {"by": ack.by, "at": ack.at.isoformat(), "note": ack.note},
        "alarm_count": len(incident.alarm_ids),
        "meters": [
            {
                "meter": meter,
                "worst": {
                    "quantity": w.quantity,
                    "value": w.value,
                    "unit": w.unit,
                    "at": w.at.isoformat(),
                },
            }
            for meter, w in sorted(incident.meters.items())
        ],
        "alarm_ids": list(incident.alarm_ids),
    }
    if history:
        body["history"] = [
            {"at": h.at.isoformat(), "event": h.event.value, "by": h.by, "note": h.note}
            for h in incident.history
        ]
    return body


def incident_of(body: dict[str, Any]) -> Incident:
    ack = body.get("acknowledged")
    cleared = body.get("cleared_at")
    return Incident(
        id=body["id"],
        kind=IncidentKind(body["kind"]),
        subject=body["subject"],
        severity=IncidentSeverity(body["severity"]),
        opened_at=datetime.fromisoformat(body["opened_at"]),
        updated_at=datetime.fromisoformat(body["updated_at"]),
        transformer=body.get("transformer"),
        building=body.get("building"),
        state=IncidentState(body["state"]),
        cleared_at=datetime.fromisoformat(cleared) if cleared else None,
        acknowledged=None
        if not ack
        else Acknowledgement(ack["by"], datetime.fromisoformat(ack["at"]), ack["note"]),
        alarm_ids=list(body.get("alarm_ids", ())),
        meters={
            m["meter"]: WorstValue(
                m["worst"]["quantity"],
                float(m["worst"]["value"]),
                m["worst"]["unit"],
                datetime.fromisoformat(m["worst"]["at"]),
            )
            for m in body.get("meters", ())
        },
        history=[
            HistoryEntry(
                datetime.fromisoformat(h["at"]), HistoryEvent(h["event"]), h["by"], h["note"]
            )
            for h in body.get("history", ())
        ],
    )
