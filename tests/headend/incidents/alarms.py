"""Hand-made alarms and a small compound for the incident tests.

Transformer T1 supplies buildings B1 (meters B1-01..B1-05, channel bus-1) and B2 (B2-01..B2-04,
channel bus-2); T2 supplies B3 (B3-01..B3-03, channel bus-3); concentrator C1 on T2 reads
C1-01..C1-04. T1's anomaly alarms name it by its terminal device, ``TTU-1``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from headend.anomaly.alarms import Alarm
from headend.incidents.topology import MeterLocation, Topology

T0 = datetime(2026, 7, 15, 11, 0, tzinfo=UTC)
"""19:00 site time (UTC+8): the evening peak."""

B1 = [f"B1-{i:02d}" for i in range(1, 6)]
B2 = [f"B2-{i:02d}" for i in range(1, 5)]
B3 = [f"B3-{i:02d}" for i in range(1, 4)]
C1 = [f"C1-{i:02d}" for i in range(1, 5)]


def compound() -> Topology:
    places = [MeterLocation(m, "T1", "B1", "bus-1") for m in B1]
    places += [MeterLocation(m, "T1", "B2", "bus-2") for m in B2]
    places += [MeterLocation(m, "T2", "B3", "bus-3") for m in B3]
    places += [MeterLocation(m, "T2", "B4", None, "C1") for m in C1]
    return Topology.of(places, {"TTU-1": "T1", "T1": "T1", "T2": "T2"}, {"C1": "T2"})


def alarm(
    kind: str,
    subject: str,
    *,
    subject_kind: str = "meter",
    minutes: float = 0,
    value: float | None = None,
    peak: float | None = None,
    unit: str = "V",
    severity: str = "warning",
    end: datetime | None = None,
) -> Alarm:
    start = T0 + timedelta(minutes=minutes)
    return Alarm(
        id=f"{kind}/{subject_kind}/{subject}/{int(start.timestamp())}",
        subject_kind=subject_kind,
        subject=subject,
        kind=kind,
        severity=severity,
        start=start,
        end=end,
        value=value,
        peak=peak if peak is not None else value,
        unit=unit,
        message=f"{kind} {subject}",
    )


def closed(original: Alarm, minutes: float) -> Alarm:
    """The same alarm as it is once its condition has gone away."""
    return replace(original, end=T0 + timedelta(minutes=minutes))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
