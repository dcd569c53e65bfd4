"""Alarms that share a cause become one incident (``headend.incidents.causes`` through the book)."""

from __future__ import annotations

from dataclasses import replace

from headend.incidents.book import Change, IncidentBook
from headend.incidents.records import IncidentKind, IncidentSeverity, WorstValue
from tests.headend.incidents.alarms import B1, B2, B3, C1, alarm, at, compound


def test_an_overload_and_five_meter_alarms_are_one_incident() -> None:
    overload = alarm(
        "overload",
        "TTU-1",
        subject_kind="transformer",
        value=1.18,
        unit="ratio",
        severity="critical",
    )
    lows = [alarm("voltage_low", m, minutes=1, value=190.0 - i) for i, m in enumerate(B1)]
    book = IncidentBook(compound())

    changes = book.reconcile([overload, *lows], at(2))

    assert [c.change for c in changes] == [Change.OPENED]
    incident = changes[0].incident
    assert incident.kind is IncidentKind.TRANSFORMER_OVERLOAD
    assert incident.subject == "T1"  # the terminal's device name mapped to the transformer
    assert incident.transformer == "T1"
    assert incident.severity is IncidentSeverity.CRITICAL
    assert len(incident.alarm_ids) == 6
    assert sorted(incident.meters) == B1
    assert incident.meters["B1-05"].value == 186.0  # 190 - 4
    assert incident.meters["B1-05"].quantity == "voltage"
    assert incident.id == f"transformer_overload:T1:{int(at(0).timestamp())}"


def test_an_overloaded_transformer_lists_all_its_meters_with_their_peak_load() -> None:
    overload = alarm("overload", "TTU-1", subject_kind="transformer", value=1.1, unit="ratio")
    loads = {m: 1.0 + i for i, m in enumerate(B1 + B2)}
    book = IncidentBook(compound())

    book.reconcile([overload], at(1), lambda m: _load(loads, m, 1))
    loads["B2-04"] = 0.5  # lower later: the worst (highest) stays
    changes = book.reconcile([overload], at(2), lambda m: _load(loads, m, 2))

    incident = book.active()[0]
    assert sorted(incident.meters) == sorted(B1 + B2)  # T1's, not T2's B3
    assert incident.meters["B2-04"] == WorstValue("power_active_total", 9.0, "kW", at(1))
    assert changes == []  # nothing got worse


def _load(loads: dict[str, float], meter: str, minutes: float) -> WorstValue | None:
    if meter not in loads:
        return None
    return WorstValue("power_active_total", loads[meter], "kW", at(minutes))


def test_a_buildings_low_voltage_is_one_incident_each_meter_once() -> None:
    """Each low-voltage meter raises voltage_low and voltage_low_sustained: listed once, with
    the lower of the two, and the building's own aggregate alarm joins too."""
    alarms = []
    for i, meter in enumerate(B2):
        alarms.append(alarm("voltage_low", meter, value=195.0 - i))
        sustained = alarm("voltage_low_sustained", meter, minutes=60, value=193.0 - i)
        alarms.append(replace(sustained, severity="critical"))
    alarms.append(alarm("voltage_low_sustained", "B2", subject_kind="building", value=190.0))
    book = IncidentBook(compound())

    changes = book.reconcile(alarms, at(61))

    assert len(changes) == 1
    incident = changes[0].incident
    assert incident.kind is IncidentKind.BUILDING_LOW_VOLTAGE
    assert (incident.subject, incident.building, incident.transformer) == ("B2", "B2", "T1")
    assert len(incident.alarm_ids) == 9
    assert sorted(incident.meters) == B2
    assert [incident.meters[m].value for m in B2] == [193.0, 192.0, 191.0, 190.0]
    assert incident.severity is IncidentSeverity.MAJOR  # critical alarms, a consequence


def test_low_voltage_of_two_buildings_is_two_incidents() -> None:
    book = IncidentBook(compound())
    book.reconcile(
        [alarm("voltage_low", B1[0], value=197), alarm("voltage_low", B3[0], value=196)], at(1)
    )
    assert sorted(i.subject for i in book.active()) == ["B1", "B3"]


def test_a_channel_down_takes_its_meters_offline() -> None:
    offline = [alarm("meter_offline", m, minutes=0) for m in B1[:3]]
    book = IncidentBook(compound())

    (change,) = book.reconcile(offline, at(10))

    assert change.incident.kind is IncidentKind.CHANNEL_DOWN
    assert change.incident.subject == "bus-1"
    assert sorted(change.incident.meters) == B1[:3]
    worst = change.incident.meters[B1[0]]
    assert (worst.quantity, worst.value, worst.unit) == ("meter_offline_duration", 10.0, "min")
    assert book.reconcile(offline, at(20)) == []  # offline longer: nothing to announce
    assert change.incident.meters[B1[0]].value == 20.0  # but the figure is kept up to date


def test_one_meter_offline_stays_its_own_incident() -> None:
    book = IncidentBook(compound())
    (change,) = book.reconcile([alarm("meter_offline", B1[0])], at(1))
    assert change.incident.kind is IncidentKind.METER
    assert change.incident.subject == B1[0]
    assert change.incident.building == "B1"


def test_a_terminal_power_off_takes_its_unread_meters() -> None:
    power_off = alarm("terminal_power_off", "C1", subject_kind="terminal")
    unread = [alarm("meter_unread", m, minutes=5) for m in C1[:1]]
    book = IncidentBook(compound())

    (change,) = book.reconcile([power_off, *unread], at(6))

    assert change.incident.kind is IncidentKind.TERMINAL_DOWN
    assert (change.incident.subject, change.incident.transformer) == ("C1", "T2")
    assert list(change.incident.meters) == C1[:1]


def test_a_lost_session_takes_its_unread_meters_and_most_unread_is_the_terminal() -> None:
    book = IncidentBook(compound())
    lost = alarm("terminal_offline", "C1", subject_kind="terminal")
    (change,) = book.reconcile([lost, alarm("meter_unread", C1[0], minutes=1)], at(2))
    assert (change.incident.kind, change.incident.subject) == (IncidentKind.TERMINAL_DOWN, "C1")

    other = IncidentBook(compound())  # no terminal alarm: half of its meters unread at once
    (change,) = other.reconcile([alarm("meter_unread", m) for m in C1[:2]], at(1))
    assert (change.incident.kind, change.incident.subject) == (IncidentKind.TERMINAL_DOWN, "C1")
    assert sorted(change.incident.meters) == C1[:2]


def test_most_of_a_transformer_out_at_once_is_an_area_outage() -> None:
    outages = [alarm("outage", m, value=0.0, severity="critical") for m in B1 + B2[:2]]
    book = IncidentBook(compound())

    (change,) = book.reconcile(outages, at(1))

    assert change.incident.kind is IncidentKind.AREA_OUTAGE
    assert change.incident.subject == "T1"
    assert change.incident.severity is IncidentSeverity.CRITICAL
    assert len(change.incident.meters) == 7


def test_unrelated_alarms_stay_their_own() -> None:
    book = IncidentBook(compound())
    drift = alarm("clock_drift", B3[0], value=400.0, unit="s")
    jump = alarm("energy_jump", B3[1], value=80.0, unit="kW", severity="critical")
    changes = book.reconcile([drift, jump], at(1))
    assert sorted((c.incident.kind.value, c.incident.subject) for c in changes) == [
        ("meter", B3[0]),
        ("meter", B3[1]),
    ]
    assert [i.subject for i in book.active()] == [B3[1], B3[0]]  # critical first
