"""open -> acknowledged -> cleared, reopening, and the history kept across a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from headend.incidents.book import Change, IncidentBook
from headend.incidents.errors import IncidentCleared, UnknownIncident
from headend.incidents.records import HistoryEvent, IncidentState
from headend.incidents.store import IncidentQuery, IncidentStore
from tests.headend.incidents.alarms import B1, B2, alarm, at, closed, compound


def test_cleared_when_all_its_alarms_have_closed() -> None:
    first = alarm("voltage_low", B1[0], value=195)
    second = alarm("voltage_low", B1[1], minutes=1, value=194)
    book = IncidentBook(compound())
    book.reconcile([first], at(1))
    (grew,) = book.reconcile([first, second], at(2))
    assert grew.change is Change.GREW

    assert book.reconcile([closed(first, 3), second], at(3)) == []  # one still open
    (cleared,) = book.reconcile([closed(first, 3), closed(second, 4)], at(5))

    assert cleared.change is Change.CLEARED
    assert cleared.incident.state is IncidentState.CLEARED
    assert cleared.incident.cleared_at == at(4)  # when the last alarm closed
    assert book.active() == []
    events = [h.event for h in cleared.incident.history]
    assert events == [HistoryEvent.OPENED, HistoryEvent.GREW, HistoryEvent.CLEARED]


def test_acknowledge_records_who_and_why() -> None:
    book = IncidentBook(compound())
    (opened,) = book.reconcile([alarm("voltage_low", B1[0], value=195)], at(1))

    change = book.acknowledge(opened.incident.id, "ops", "crew sent", at(2))

    assert change.incident.state is IncidentState.ACKNOWLEDGED
    assert change.incident.acknowledged is not None
    assert (change.incident.acknowledged.by, change.incident.acknowledged.note) == (
        "ops",
        "crew sent",
    )
    assert change.incident.history[-1].by == "ops"
    with pytest.raises(UnknownIncident):
        book.acknowledge("nope", "ops", "", at(2))


def test_a_cleared_incident_cannot_be_acknowledged() -> None:
    low = alarm("voltage_low", B1[0], value=195)
    book = IncidentBook(compound())
    (opened,) = book.reconcile([low], at(1))
    book.reconcile([closed(low, 2)], at(3))
    with pytest.raises(IncidentCleared):
        book.acknowledge(opened.incident.id, "ops", "late", at(4))


def test_a_cause_back_within_the_window_reopens_later_it_is_new() -> None:
    book = IncidentBook(compound(), reopen_within=timedelta(minutes=30))
    first = alarm("voltage_low", B1[0], value=195)
    (opened,) = book.reconcile([first], at(1))
    book.acknowledge(opened.incident.id, "ops", "seen", at(2))
    book.reconcile([closed(first, 5)], at(6))

    again = alarm("voltage_low", B1[0], minutes=20, value=193)
    (reopened,) = book.reconcile([closed(first, 5), again], at(21))

    assert reopened.change is Change.REOPENED
    assert reopened.incident.id == opened.incident.id
    assert reopened.incident.state is IncidentState.OPEN
    assert reopened.incident.acknowledged is None
    assert reopened.incident.history[-1].event is HistoryEvent.REOPENED

    book.reconcile([closed(again, 25)], at(26))
    late = alarm("voltage_low", B1[0], minutes=60, value=192)
    (new,) = book.reconcile([late], at(61))
    assert new.change is Change.OPENED
    assert new.incident.id != opened.incident.id


def test_escalation_when_an_overload_joins_a_heavy_load() -> None:
    heavy = alarm("heavy_load", "TTU-1", subject_kind="transformer", value=0.85, unit="ratio")
    book = IncidentBook(compound())
    (opened,) = book.reconcile([heavy], at(1))
    assert opened.incident.severity.value == "major"
    over = alarm(
        "overload",
        "TTU-1",
        subject_kind="transformer",
        minutes=60,
        value=1.05,
        unit="ratio",
        severity="critical",
    )
    (escalated,) = book.reconcile([heavy, over], at(61))
    assert escalated.change is Change.ESCALATED
    assert escalated.incident.severity.value == "critical"


def test_history_survives_a_restart_and_is_searchable(tmp_path: Path) -> None:
    path = tmp_path / "incidents.sqlite"
    store = IncidentStore(path)
    book = IncidentBook(compound())
    low = [alarm("voltage_low", m, value=195) for m in B2]
    over = alarm("overload", "TTU-1", subject_kind="transformer", value=1.2, unit="ratio")
    changes = book.reconcile([*low], at(1))
    changes += book.reconcile([*low, alarm("clock_drift", B1[0], value=400, unit="s"), over], at(2))
    store.save(c.incident for c in changes)
    incident = book.active()[0]
    store.save([book.acknowledge(incident.id, "ops", "on it", at(3)).incident])
    store.close()

    again = IncidentStore(path)
    restored = IncidentBook(compound(), restored=again.load())
    assert restored.get(incident.id).acknowledged == incident.acknowledged
    assert [h.event for h in restored.get(incident.id).history] == [
        h.event for h in incident.history
    ]
    total, found = again.search(IncidentQuery(q=B2[2]))
    assert (total, [i.kind.value for i in found]) == (1, ["building_low_voltage"])
    total, found = again.search(IncidentQuery())
    assert [i.kind.value for i in found] == [
        "transformer_overload",
        "building_low_voltage",
        "meter",
    ]
    assert again.search(IncidentQuery(kind="meter"))[0] == 1
    assert again.search(IncidentQuery(transformer="T1", state="acknowledged"))[0] == 1
    assert again.search(IncidentQuery(q="100%"))[0] == 0  # LIKE characters are literal


def test_a_restored_incident_waits_for_its_cause_before_clearing(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "incidents.sqlite")
    book = IncidentBook(compound())
    low = alarm("voltage_low", B1[0], value=195)
    store.save(c.incident for c in book.reconcile([low], at(1)))

    restarted = IncidentBook(compound(), hold_for=timedelta(minutes=10), restored=store.load())
    assert restarted.reconcile([], at(2)) == []  # its alarm is unknown to a new alarm book
    raised_again = alarm("voltage_low", B1[0], minutes=3, value=194)
    (grew,) = restarted.reconcile([raised_again], at(4))
    assert grew.change is Change.GREW
    assert grew.incident.state is IncidentState.OPEN


def test_alarms_starting_over_keep_the_incident_open() -> None:
    """A fleet change closes the overload; raised anew an hour later it joins the same one."""
    book = IncidentBook(compound(), hold_for=timedelta(hours=2))
    over = alarm("overload", "TTU-1", subject_kind="transformer", value=1.2, unit="ratio")
    (opened,) = book.reconcile([over], at(1))
    book.hold_open(at(2))
    assert book.reconcile([closed(over, 2)], at(3)) == []
    again = alarm("overload", "TTU-1", subject_kind="transformer", minutes=62, value=1.3)
    (grew,) = book.reconcile([closed(over, 2), again], at(63))
    assert (grew.change, grew.incident.id) == (Change.GREW, opened.incident.id)
    (cleared,) = book.reconcile([closed(over, 2), closed(again, 70)], at(71))
    assert cleared.change is Change.CLEARED  # once it has its alarm again, it clears as usual
