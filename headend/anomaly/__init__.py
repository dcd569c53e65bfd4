"""Fleet-wide anomaly detection: pure numpy rules over fleet arrays plus an event lifecycle.

Typical use::

    detector = AnomalyDetector(layout, load_fleet_config(path).anomaly)  # [anomaly], or None
    detector.ingest(reading)            # for every reading collected
    events = detector.sweep(utc_now())  # on a schedule; publish the transitions
"""

from __future__ import annotations

from headend.anomaly.conditions import Condition, ConditionSpec
from headend.anomaly.config import AnomalyConfig, Timing, VoltageBand
from headend.anomaly.detector import AnomalyDetector
from headend.anomaly.errors import (
    AnomalyConfigError,
    AnomalyError,
    FleetLayoutError,
    ReadingRejectedError,
)
from headend.anomaly.events import AnomalyEvent, AnomalyKind, EventState, SubjectKind
from headend.anomaly.fleet import FleetLayout, FleetSnapshot
from headend.anomaly.ruleset import RuleSet
from headend.anomaly.tracker import EventTracker

__all__ = [
    "AnomalyConfig",
    "AnomalyConfigError",
    "AnomalyDetector",
    "AnomalyError",
    "AnomalyEvent",
    "AnomalyKind",
    "Condition",
    "ConditionSpec",
    "EventState",
    "EventTracker",
    "FleetLayout",
    "FleetLayoutError",
    "FleetSnapshot",
    "ReadingRejectedError",
    "RuleSet",
    "SubjectKind",
    "Timing",
    "VoltageBand",
]
