"""What the detector reports: typed anomaly events with a lifecycle.

Events are emitted only on transitions (raised, updated, cleared), so storage and MQTT carry a
handful of records per incident rather than one per sweep.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from storage.records import Severity


class SubjectKind(enum.StrEnum):
    """What an event is about; fleet-level subjects replace floods of meter events."""

    METER = "meter"
    TRANSFORMER = "transformer"
    BUILDING = "building"
    TERMINAL = "terminal"
    """A concentrator's own events (power off/on, an unknown meter on its port)."""


class AnomalyKind(enum.StrEnum):
    """The condition detected. Names are stable: they are stored and published."""

    VOLTAGE_LOW = "voltage_low"
    VOLTAGE_HIGH = "voltage_high"
    VOLTAGE_LOW_SUSTAINED = "voltage_low_sustained"
    HEAVY_LOAD = "heavy_load"
    OVERLOAD = "overload"
    CURRENT_UNBALANCE = "current_unbalance"
    VOLTAGE_UNBALANCE = "voltage_unbalance"
    OUTAGE = "outage"
    COMMUNICATION_FAULT = "communication_fault"
    ENERGY_BACKWARDS = "energy_backwards"
    ENERGY_JUMP = "energy_jump"
    REVERSE_ENERGY = "reverse_energy"
    CLOCK_DRIFT = "clock_drift"


class EventState(enum.StrEnum):
    """Lifecycle transition carried by an event record."""

    RAISED = "raised"
    UPDATED = "updated"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """One lifecycle transition of one incident.

    ``event_id`` is the same for the raised, updated and cleared records of one incident, so a
    store can upsert on it. ``peak`` is the worst value seen since the condition started (the
    lowest voltage, the highest load rate, ...); ``value`` the value at this transition.
    """

    event_id: str
    subject_kind: SubjectKind
    subject_id: str
    kind: AnomalyKind
    severity: Severity
    state: EventState
    start: datetime
    end: datetime | None
    value: float
    peak: float
    unit: str
    message: str

    @property
    def is_open(self) -> bool:
        """True until the cleared record: the incident is still going on."""
        return self.state is not EventState.CLEARED

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError(f"event {self.event_id}: start must be timezone-aware (UTC)")
        if (self.end is None) != (self.state is not EventState.CLEARED):
            raise ValueError(f"event {self.event_id}: only a cleared event has an end")
