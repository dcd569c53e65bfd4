"""Alarm book: anomaly transitions become alarms and records; a fleet change closes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from headend.anomaly import AnomalyEvent, AnomalyKind, EventState, SubjectKind
from headend.anomaly.alarms import AlarmBook, UnknownAlarm
from storage.records import Severity

T0 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


def raised(subject: str) -> AnomalyEvent:
    return AnomalyEvent(
        event_id=f"voltage_low/meter/{subject}/1",
        subject_kind=SubjectKind.METER,
        subject_id=subject,
        kind=AnomalyKind.VOLTAGE_LOW,
        severity=Severity.WARNING,
        state=EventState.RAISED,
        start=T0,
        end=None,
        value=195.0,
        peak=195.0,
        unit="V",
        message=f"voltage below limit at meter {subject}",
    )


def test_fleet_change_closes_rule_alarms_but_not_meter_events() -> None:
    book = AlarmBook()
    record = book.anomaly(raised("m1"), {"building": "B5"})
    assert record.active
    book.meter_event(
        "m2",
        "meter_offline",
        active=True,
        at=T0,
        detail="timeout",
        severity=record.severity,
        tags={},
    )
    book.acknowledge("voltage_low/meter/m1/1", "anna", T0)
    closed = book.close_rule_alarms(T0 + timedelta(minutes=5), "fleet changed (m9)")
    assert [(r.meter, r.event, r.active) for r in closed] == [("m1", "voltage_low", False)]
    assert [a.kind for a in book.open_alarms()] == ["meter_offline"]
    history = book.get("voltage_low/meter/m1/1")
    assert history.end == T0 + timedelta(minutes=5)
    assert history.acknowledged_by == "anna"
    assert book.close_rule_alarms(T0 + timedelta(minutes=6), "again") == []


def test_an_unknown_alarm_names_its_id_as_a_field_and_once_in_the_text() -> None:
    book = AlarmBook()
    with pytest.raises(UnknownAlarm) as info:
        book.get("voltage_low/meter/m9/1")
    assert info.value.alarm == "voltage_low/meter/m9/1"
    assert str(info.value) == "unknown alarm 'voltage_low/meter/m9/1'"
    assert isinstance(info.value, KeyError)
