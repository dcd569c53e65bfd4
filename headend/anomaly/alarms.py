"""Alarms as an operator sees them: open incidents with their history, acknowledgement, and
the records storage keeps.

Anomaly rules and meter health both raise incidents; this is the one place that turns them
into ``EventRecord`` rows for storage and keeps the open ones for the API and dashboard.
Acknowledging does not clear an alarm (only the condition going away does); it records who
has taken it in hand, which is what a control room shift handover needs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime

from headend.anomaly import AnomalyEvent, EventState
from headend.errors import HeadendError
from storage.records import EventRecord, Quality, Severity


class UnknownAlarm(HeadendError, KeyError):
    """A request names an alarm that is neither open nor among the recently closed;
    ``alarm`` is the id it asked for."""

    def __init__(self, alarm: str) -> None:
        self.alarm = alarm
        self.message = f"unknown alarm {alarm!r}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the message a second time.
        return self.message


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    subject_kind: str
    subject: str
    kind: str
    severity: str
    start: datetime
    end: datetime | None
    value: float | None
    peak: float | None
    unit: str
    message: str
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.end is None


@dataclass(slots=True)
class AlarmBook:
    history_size: int = 1000
    _open: dict[str, Alarm] = field(default_factory=dict)
    _closed: deque[Alarm] = field(default_factory=deque)
    _from_rules: set[str] = field(default_factory=set)
    """Ids of open alarms raised by the anomaly rules (the rest are head-end events)."""

    def open_alarms(self) -> list[Alarm]:
        return sorted(self._open.values(), key=lambda a: a.start)

    def recent(self) -> list[Alarm]:
        return [*self.open_alarms(), *reversed(self._closed)]

    def get(self, alarm_id: str) -> Alarm:
        alarm = self._open.get(alarm_id) or next(
            (a for a in self._closed if a.id == alarm_id), None
        )
        if alarm is None:
            raise UnknownAlarm(alarm_id)
        return alarm

    def acknowledge(self, alarm_id: str, user: str, at: datetime) -> Alarm:
        alarm = self.get(alarm_id)
        acknowledged = replace(alarm, acknowledged_by=user, acknowledged_at=at)
        if alarm_id in self._open:
            self._open[alarm_id] = acknowledged
        return acknowledged

    def anomaly(self, event: AnomalyEvent, tags: dict[str, str]) -> EventRecord:
        """Track an anomaly transition; returns the storage record for it."""
        previous = self._open.get(event.event_id)
        alarm = Alarm(
            id=event.event_id,
            subject_kind=event.subject_kind.value,
            subject=event.subject_id,
            kind=event.kind.value,
            severity=event.severity.value,
            start=event.start,
            end=event.end,
            value=event.value,
            peak=event.peak,
            unit=event.unit,
            message=event.message,
            acknowledged_by=previous.acknowledged_by if previous else None,
            acknowledged_at=previous.acknowledged_at if previous else None,
        )
        self._track(alarm)
        if alarm.open:
            self._from_rules.add(alarm.id)
        else:
            self._from_rules.discard(alarm.id)
        at = event.end if event.state is EventState.CLEARED and event.end else event.start
        if event.state is EventState.UPDATED:
            at = max(at, event.start)
        return EventRecord(
            meter=event.subject_id,
            event=event.kind.value,
            timestamp=at,
            severity=event.severity,
            active=event.state is not EventState.CLEARED,
            value=event.value,
            detail=event.message,
            quality=Quality.ESTIMATED,
            tags={**tags, "subject": event.subject_kind.value, "incident": event.event_id},
        )

    def meter_event(
        self,
        meter: str,
        kind: str,
        *,
        active: bool,
        at: datetime,
        detail: str,
        severity: Severity,
        tags: dict[str, str],
        subject_kind: str = "meter",
        incident: str | None = None,
    ) -> EventRecord:
        """A head-end event about one meter (offline/online, relay operated, clock set), or
        about another ``subject_kind`` (a terminal's events); ``incident`` is the alarm id when
        one subject can have several of a kind open (default ``kind:meter``)."""
        alarm_id = incident or f"{kind}:{meter}"
        if active:
            self._track(
                Alarm(
                    alarm_id,
                    subject_kind,
                    meter,
                    kind,
                    severity.value,
                    at,
                    None,
                    None,
                    None,
                    "",
                    detail,
                )
            )
        elif alarm_id in self._open:
            self._track(replace(self._open[alarm_id], end=at, message=detail))
        return EventRecord(
            meter=meter,
            event=kind,
            timestamp=at,
            severity=severity,
            active=active,
            detail=detail,
            quality=Quality.ESTIMATED,
            tags=tags,
        )

    def close_rule_alarms(self, at: datetime, why: str) -> list[EventRecord]:
        """Close every open anomaly alarm (the rules start over, e.g. after a fleet change);
        a condition that still holds is raised again by the next sweeps."""
        records = []
        for alarm_id in sorted(self._from_rules):
            alarm = self._open.get(alarm_id)
            if alarm is None:
                continue
            self._track(replace(alarm, end=at, message=f"{alarm.message} (closed: {why})"))
            records.append(
                EventRecord(
                    meter=alarm.subject,
                    event=alarm.kind,
                    timestamp=at,
                    severity=Severity(alarm.severity),
                    active=False,
                    value=alarm.value,
                    detail=f"closed: {why}",
                    quality=Quality.ESTIMATED,
                    tags={"subject": alarm.subject_kind, "incident": alarm.id},
                )
            )
        self._from_rules.clear()
        return records

    def _track(self, alarm: Alarm) -> None:
        if alarm.open:
            self._open[alarm.id] = alarm
            return
        self._open.pop(alarm.id, None)
        self._closed.append(alarm)
        while len(self._closed) > self.history_size:
            self._closed.popleft()
