"""The incidents' lifecycle, sans-IO: open -> acknowledged -> cleared, reopened if the cause
comes back soon.

``reconcile`` is given every alarm the alarm book holds (open and recently closed) and the
time; it files each open alarm it has not seen under its cause (``causes.cause_of``, judged
against the alarms open at that moment, and kept: an alarm never moves between incidents),
updates the meters' worst values, and clears an incident once none of its alarms is open. It
returns what changed, for the store and the notifier. A cleared incident whose cause raises an
alarm again within ``reopen_within`` is reopened (same id, history kept, acknowledgement
dropped: it needs taking in hand again); later, it is a new incident.

Incidents restored from the store at start name alarms the new alarm book does not know (alarms
live in memory), and a fleet change closes every rule alarm for the rules to start over: either
way the open incidents are held open for ``hold_for`` (longer than the rules' longest hold, a
heavy load's 2 h), so a cause still there joins them again when its alarm is raised anew
instead of clearing them and opening a new incident (and a new notification).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from headend.anomaly.alarms import Alarm
from headend.incidents.causes import Cause, OpenSituation, cause_of
from headend.incidents.errors import IncidentCleared, UnknownIncident
from headend.incidents.records import (
    Acknowledgement,
    HistoryEntry,
    HistoryEvent,
    Incident,
    IncidentKind,
    IncidentSeverity,
    IncidentState,
    WorstValue,
    incident_id,
)
from headend.incidents.topology import Topology
from headend.incidents.worst import DURATION_UNIT, alarm_worst, worse_of

DEFAULT_REOPEN_WITHIN = timedelta(minutes=30)
DEFAULT_HOLD_FOR = timedelta(hours=2, minutes=15)

LoadOf = Callable[[str], WorstValue | None]
"""A meter's current load (``power_active_total``), for the meters of an overloaded transformer
that raised no alarm of their own."""

_ALARM_SEVERITY = {
    "critical": IncidentSeverity.CRITICAL,
    "warning": IncidentSeverity.MINOR,
    "info": IncidentSeverity.INFO,
}
_KIND_FLOOR = {
    IncidentKind.AREA_OUTAGE: IncidentSeverity.CRITICAL,
    IncidentKind.TERMINAL_DOWN: IncidentSeverity.MAJOR,
    IncidentKind.CHANNEL_DOWN: IncidentSeverity.MAJOR,
    IncidentKind.BUILDING_LOW_VOLTAGE: IncidentSeverity.MAJOR,
    IncidentKind.TRANSFORMER_OVERLOAD: IncidentSeverity.MAJOR,
    IncidentKind.METER: IncidentSeverity.INFO,
}

_KIND_CEILING = {IncidentKind.BUILDING_LOW_VOLTAGE: IncidentSeverity.MAJOR}
"""A building's low voltage is a consequence (of a long feeder, of its transformer's load):
however long it lasts (``voltage_low_sustained`` is a critical alarm) the incident stays major,
below the overload that causes it, which is the one to act on first."""


class Change(enum.StrEnum):
    """What a pass did to an incident; ``escalated`` = its severity rose (a notification)."""

    OPENED = "opened"
    GREW = "grew"
    ESCALATED = "escalated"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    REOPENED = "reopened"


@dataclass(frozen=True, slots=True)
class IncidentChange:
    incident: Incident
    change: Change


def sort_key(incident: Incident) -> tuple[int, float]:
    """Severity first (critical first), then the most recent activity first."""
    return (-incident.severity.rank, -incident.updated_at.timestamp())


class IncidentBook:
    def __init__(
        self,
        topology: Topology,
        *,
        reopen_within: timedelta = DEFAULT_REOPEN_WITHIN,
        hold_for: timedelta = DEFAULT_HOLD_FOR,
        restored: Iterable[Incident] = (),
    ) -> None:
        self.topology = topology
        self.reopen_within = reopen_within
        self.hold_for = hold_for
        self._incidents: dict[str, Incident] = {}
        self._live: dict[tuple[str, str], str] = {}
        """(kind, subject) -> the id of its open or acknowledged incident."""
        self._last: dict[tuple[str, str], str] = {}
        """(kind, subject) -> the id of its latest incident (a reopen candidate)."""
        self._filed: dict[str, str] = {}
        """Alarm id -> incident id."""
        self._grace_until: datetime | None = None
        self._restored: set[str] = set()
        for incident in restored:
            self._incidents[incident.id] = incident
            self._last[incident.key] = incident.id
            for alarm_id in incident.alarm_ids:
                self._filed[alarm_id] = incident.id
            if incident.active:
                self._live[incident.key] = incident.id
                self._restored.add(incident.id)

    # -- queries -----------------------------------------------------------------------------

    def get(self, incident: str) -> Incident:
        found = self._incidents.get(incident)
        if found is None:
            raise UnknownIncident(incident)
        return found

    def active(self) -> list[Incident]:
        """Open and acknowledged incidents, worst and newest first."""
        return sorted((self._incidents[i] for i in self._live.values()), key=sort_key)

    def all(self) -> list[Incident]:
        return sorted(self._incidents.values(), key=sort_key)

    def hold_open(self, now: datetime) -> None:
        """The alarms start over (a fleet change): keep the open incidents for ``hold_for``."""
        self._restored.update(self._live.values())
        self._grace_until = now + self.hold_for

    # -- the operator ------------------------------------------------------------------------

    def acknowledge(self, incident: str, by: str, note: str, at: datetime) -> IncidentChange:
        found = self.get(incident)
        if found.state is IncidentState.CLEARED:
            raise IncidentCleared(incident)
        found.acknowledged = Acknowledgement(by, at, note)
        found.state = IncidentState.ACKNOWLEDGED
        found.updated_at = max(found.updated_at, at)
        found.history.append(HistoryEntry(at, HistoryEvent.ACKNOWLEDGED, by, note))
        return IncidentChange(found, Change.ACKNOWLEDGED)

    # -- the alarms --------------------------------------------------------------------------

    def reconcile(
        self, alarms: Sequence[Alarm], now: datetime, load_of: LoadOf | None = None
    ) -> list[IncidentChange]:
        if self._grace_until is None:
            self._grace_until = now + self.hold_for
        changes: dict[str, Change] = {}
        open_alarms = sorted((a for a in alarms if a.open), key=lambda a: (a.start, a.id))
        situation = OpenSituation.of(open_alarms, self.topology)
        touched: dict[str, list[Alarm]] = {}
        for alarm in open_alarms:
            filed = self._filed.get(alarm.id)
            incident = self._incidents.get(filed) if filed else None
            if incident is None or not incident.active:
                cause = cause_of(alarm, self.topology, situation)
                incident = self._file(alarm, cause, now, changes)
            touched.setdefault(incident.id, []).append(alarm)
        known = {a.id: a for a in alarms}
        for incident_id_, its_alarms in touched.items():
            self._update(self._incidents[incident_id_], its_alarms, now, load_of, changes)
        self._clear_finished(touched, known, now, changes)
        return [IncidentChange(self._incidents[i], c) for i, c in changes.items()]

    def _file(
        self, alarm: Alarm, cause: Cause, now: datetime, changes: dict[str, Change]
    ) -> Incident:
        live = self._live.get(cause.key)
        if live is not None:
            incident = self._incidents[live]
            self._restored.discard(incident.id)
            if changes.get(incident.id) not in (Change.OPENED, Change.REOPENED):
                changes[incident.id] = Change.GREW
                incident.history.append(HistoryEntry(now, HistoryEvent.GREW, None, alarm.kind))
        else:
            incident = self._reopened(cause, now, changes) or self._opened(cause, alarm, now)
            if incident.id not in changes:
                changes[incident.id] = Change.OPENED
            self._live[cause.key] = incident.id
            self._last[cause.key] = incident.id
        self._filed[alarm.id] = incident.id
        if alarm.id not in incident.alarm_ids:
            incident.alarm_ids.append(alarm.id)
        incident.updated_at = now
        return incident

    def _opened(self, cause: Cause, alarm: Alarm, now: datetime) -> Incident:
        opened_at = min(alarm.start, now)
        incident = Incident(
            id=incident_id(cause.kind, cause.subject, opened_at),
            kind=cause.kind,
            subject=cause.subject,
            severity=_KIND_FLOOR[cause.kind],
            opened_at=opened_at,
            updated_at=now,
            transformer=cause.transformer,
            building=cause.building,
        )
        while incident.id in self._incidents:  # two causes opened in one second
            incident = replace(incident, id=incident.id + "-")
        incident.history.append(HistoryEntry(opened_at, HistoryEvent.OPENED, None, alarm.kind))
        self._incidents[incident.id] = incident
        return incident

    def _reopened(self, cause: Cause, now: datetime, changes: dict[str, Change]) -> Incident | None:
        last = self._last.get(cause.key)
        incident = self._incidents.get(last) if last else None
        if incident is None or incident.cleared_at is None:
            return None
        if now - incident.cleared_at > self.reopen_within:
            return None
        incident.state = IncidentState.OPEN
        incident.cleared_at = None
        incident.acknowledged = None
        incident.history.append(HistoryEntry(now, HistoryEvent.REOPENED))
        changes[incident.id] = Change.REOPENED
        return incident

    def _update(
        self,
        incident: Incident,
        alarms: list[Alarm],
        now: datetime,
        load_of: LoadOf | None,
        changes: dict[str, Change],
    ) -> None:
        before = (incident.severity, _significant(incident.meters))
        severity = incident.severity
        for alarm in alarms:
            severity = max(severity, _ALARM_SEVERITY.get(alarm.severity, severity), key=_rank)
            if alarm.kind == "overload" and incident.kind is IncidentKind.TRANSFORMER_OVERLOAD:
                severity = IncidentSeverity.CRITICAL
            if alarm.subject_kind == "meter":
                old = incident.meters.get(alarm.subject)
                incident.meters[alarm.subject] = worse_of(old, alarm_worst(alarm, now))
        if incident.kind is IncidentKind.TRANSFORMER_OVERLOAD and load_of is not None:
            for meter in self.topology.meters_of("transformer", incident.subject):
                load = load_of(meter)
                if load is not None:
                    incident.meters[meter] = worse_of(incident.meters.get(meter), load)
        ceiling = _KIND_CEILING.get(incident.kind)
        if ceiling is not None and severity.rank > ceiling.rank:
            severity = ceiling
        incident.severity = severity
        if severity.rank > before[0].rank and changes.get(incident.id) not in (
            Change.OPENED,
            Change.REOPENED,
        ):
            changes[incident.id] = Change.ESCALATED
        if (severity, _significant(incident.meters)) != before:
            incident.updated_at = now
            changes.setdefault(incident.id, Change.UPDATED)

    def _clear_finished(
        self,
        touched: dict[str, list[Alarm]],
        known: dict[str, Alarm],
        now: datetime,
        changes: dict[str, Change],
    ) -> None:
        for key, incident_id_ in list(self._live.items()):
            if incident_id_ in touched:
                continue
            incident = self._incidents[incident_id_]
            in_grace = self._grace_until is not None and now < self._grace_until
            if incident.id in self._restored and in_grace:
                continue
            ends = [known[a].end for a in incident.alarm_ids if a in known and known[a].end]
            cleared_at = max([e for e in ends if e is not None], default=now)
            incident.state = IncidentState.CLEARED
            incident.cleared_at = min(cleared_at, now)
            incident.updated_at = now
            incident.history.append(HistoryEntry(incident.cleared_at, HistoryEvent.CLEARED))
            self._restored.discard(incident.id)
            del self._live[key]
            changes[incident.id] = Change.CLEARED


def _significant(meters: dict[str, WorstValue]) -> dict[str, WorstValue | None]:
    """The meters as a change is judged: a duration that merely grew (offline for one more
    minute) is kept but changes nothing, or every pass would rewrite the incident."""
    return {m: (None if w.unit == DURATION_UNIT else w) for m, w in meters.items()}


def _rank(severity: IncidentSeverity) -> int:
    return severity.rank
