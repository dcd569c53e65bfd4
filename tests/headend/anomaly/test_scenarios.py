"""The retrofit story on a synthetic compound (swap in simulators/community when it lands).

Before: 252 households on one 400 kVA transformer at a 1.6 kW evening peak -> low voltage at the
far end and overload. After: a second, 630 kVA transformer nearer the far buildings -> neither.
"""

from __future__ import annotations

from datetime import time

from headend.anomaly import AnomalyKind, EventState, SubjectKind
from tests.headend.anomaly.fleets import evening_community, run_scenario

EVENING = (time(18, 0), time(21, 0))


def test_pre_retrofit_raises_low_voltage_and_overload_in_the_evening() -> None:
    community = evening_community(rated_kva=[400.0])
    events = run_scenario(community.layout, community.times, community.voltage, community.power_kw)
    raised = [e for e in events if e.state is EventState.RAISED]
    found = {(e.kind, e.subject_kind) for e in raised}
    assert (AnomalyKind.OVERLOAD, SubjectKind.TRANSFORMER) in found
    assert (AnomalyKind.VOLTAGE_LOW_SUSTAINED, SubjectKind.METER) in found
    assert (AnomalyKind.VOLTAGE_LOW_SUSTAINED, SubjectKind.BUILDING) in found
    for event in raised:
        if event.kind in (AnomalyKind.OVERLOAD, AnomalyKind.VOLTAGE_LOW_SUSTAINED):
            assert EVENING[0] <= event.start.time() < EVENING[1]
    # Far-end buildings are the low ones, and the events close when the peak is over.
    low_buildings = {
        e.subject_id
        for e in raised
        if e.kind is AnomalyKind.VOLTAGE_LOW_SUSTAINED and e.subject_kind is SubjectKind.BUILDING
    }
    assert low_buildings <= {"bldg4", "bldg5", "bldg6"}
    cleared = [e for e in events if e.state is EventState.CLEARED]
    assert {e.event_id for e in cleared} == {e.event_id for e in raised}


def test_post_retrofit_raises_neither() -> None:
    community = evening_community(rated_kva=[400.0, 630.0])
    events = run_scenario(community.layout, community.times, community.voltage, community.power_kw)
    unwanted = {
        AnomalyKind.OVERLOAD,
        AnomalyKind.HEAVY_LOAD,
        AnomalyKind.VOLTAGE_LOW,
        AnomalyKind.VOLTAGE_LOW_SUSTAINED,
    }
    assert [e for e in events if e.kind in unwanted] == []
