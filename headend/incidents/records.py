"""An incident as the book keeps it: what, where, since when, who took it, which meters.

Plain dataclasses (no I/O): the book changes them, the store writes them, the API shows them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime


class IncidentKind(enum.StrEnum):
    """The shared cause. ``meter``: an alarm with no shared cause, its own incident."""

    TRANSFORMER_OVERLOAD = "transformer_overload"
    BUILDING_LOW_VOLTAGE = "building_low_voltage"
    CHANNEL_DOWN = "channel_down"
    TERMINAL_DOWN = "terminal_down"
    AREA_OUTAGE = "area_outage"
    METER = "meter"


class IncidentSeverity(enum.StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: the list sorts on it."""
        return _RANK[self]


_RANK = {
    IncidentSeverity.INFO: 0,
    IncidentSeverity.MINOR: 1,
    IncidentSeverity.MAJOR: 2,
    IncidentSeverity.CRITICAL: 3,
}


class IncidentState(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class HistoryEvent(enum.StrEnum):
    OPENED = "opened"
    GREW = "grew"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    REOPENED = "reopened"


@dataclass(frozen=True, slots=True)
class WorstValue:
    quantity: str
    value: float
    unit: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    by: str
    at: datetime
    note: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    event: HistoryEvent
    by: str | None = None
    note: str | None = None


@dataclass(slots=True)
class Incident:
    id: str
    kind: IncidentKind
    subject: str
    severity: IncidentSeverity
    opened_at: datetime
    updated_at: datetime
    transformer: str | None = None
    building: str | None = None
    state: IncidentState = IncidentState.OPEN
    cleared_at: datetime | None = None
    acknowledged: Acknowledgement | None = None
    alarm_ids: list[str] = field(default_factory=list)
    meters: dict[str, WorstValue] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        """One live incident per cause: (kind, subject)."""
        return (self.kind.value, self.subject)

    @property
    def active(self) -> bool:
        return self.state is not IncidentState.CLEARED


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def incident_id(kind: IncidentKind, subject: str, opened_at: datetime) -> str:
    """URL-safe (``[A-Za-z0-9_.:-]``): a subject's other characters become ``_``, so a plain
    path segment carries it (alarm ids hold ``/``, incident ids never do)."""
    return f"{kind.value}:{_UNSAFE.sub('_', subject)}:{int(opened_at.timestamp())}"
