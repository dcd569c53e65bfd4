"""Outage inference: one transformer event instead of hundreds, and meter outage vs comm fault."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from headend.anomaly import AnomalyDetector, AnomalyEvent, AnomalyKind, EventState, SubjectKind
from storage.records import FailureReason, Reading
from tests.headend.anomaly.fleets import T0, layout

METERS = 20


def detector_with_healthy_fleet() -> AnomalyDetector:
    detector = AnomalyDetector(layout([METERS, METERS]))
    for meter in detector.layout.meter_ids:
        detector.ingest(Reading(meter, "voltage_a", 221.0, "V", T0))
    return detector


def fail(detector: AnomalyDetector, meters: range | list[int], reason: str) -> None:
    for row in meters:
        meter = detector.layout.meter_ids[row]
        detector.ingest(Reading.missing(meter, "voltage_a", "V", T0, reason))


def kinds(events: list[AnomalyEvent]) -> Counter[tuple[AnomalyKind, SubjectKind]]:
    return Counter((e.kind, e.subject_kind) for e in events if e.state is EventState.RAISED)


def test_healthy_fleet_raises_nothing() -> None:
    assert detector_with_healthy_fleet().sweep(T0) == []


@pytest.mark.parametrize("how", ["timeout", "zero_voltage"])
def test_many_meters_down_is_one_transformer_outage(how: str) -> None:
    detector = detector_with_healthy_fleet()
    down = range(int(METERS * detector.config.outage_fraction) + 1)
    if how == "timeout":
        fail(detector, down, FailureReason.TIMEOUT)
    else:
        for row in down:
            detector.ingest(Reading(detector.layout.meter_ids[row], "voltage_a", 0.0, "V", T0))
    events = detector.sweep(T0)
    assert kinds(events) == {(AnomalyKind.OUTAGE, SubjectKind.TRANSFORMER): 1}
    assert events[0].subject_id == "t0"
    assert events[0].peak == pytest.approx(len(down) / METERS)


def test_concentrator_link_down_is_one_channel_fault_not_an_outage() -> None:
    detector = detector_with_healthy_fleet()
    fail(detector, range(METERS), FailureReason.CONNECTION_LOST)
    events = detector.sweep(T0)
    assert kinds(events) == {(AnomalyKind.COMMUNICATION_FAULT, SubjectKind.TRANSFORMER): 1}


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (FailureReason.TIMEOUT, AnomalyKind.OUTAGE),
        (FailureReason.CHECKSUM, AnomalyKind.COMMUNICATION_FAULT),
        (FailureReason.MALFORMED, AnomalyKind.COMMUNICATION_FAULT),
        (FailureReason.CONNECTION_LOST, AnomalyKind.COMMUNICATION_FAULT),
    ],
)
def test_single_meter_failure_reason_decides_kind(reason: str, kind: AnomalyKind) -> None:
    detector = detector_with_healthy_fleet()
    fail(detector, [METERS + 3], reason)
    events = detector.sweep(T0)
    assert kinds(events) == {(kind, SubjectKind.METER): 1}
    assert events[0].subject_id == detector.layout.meter_ids[METERS + 3]


def test_comm_fault_message_names_the_reason() -> None:
    detector = detector_with_healthy_fleet()
    fail(detector, [0], FailureReason.CHECKSUM)
    (event,) = detector.sweep(T0)
    assert "checksum" in event.message


def test_meter_answering_again_clears_its_event() -> None:
    detector = detector_with_healthy_fleet()
    fail(detector, [5], FailureReason.TIMEOUT)
    (raised,) = detector.sweep(T0)
    detector.ingest(Reading(detector.layout.meter_ids[5], "voltage_a", 220.0, "V", T0))
    clear_after = detector.config.timing(AnomalyKind.OUTAGE).clear_after_s
    detector.sweep(T0)
    (cleared,) = detector.sweep(T0 + timedelta(seconds=clear_after))
    assert cleared.state is EventState.CLEARED
    assert cleared.event_id == raised.event_id


def test_too_few_meters_down_stay_meter_events() -> None:
    detector = AnomalyDetector(layout([2]))
    fail(detector, [0, 1], FailureReason.TIMEOUT)
    assert kinds(detector.sweep(T0)) == {(AnomalyKind.OUTAGE, SubjectKind.METER): 2}
