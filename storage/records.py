"""Records that storage keeps besides readings: anomaly events and collection status.

They are produced by the anomaly rules and the collection engine; they live here because storage
defines what it can persist, and both producers import from one place.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from headend.readings import Quality

_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})


class Severity(enum.StrEnum):
    """How urgently a person should look at an event."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class CollectionOutcome(enum.StrEnum):
    """How one collection round for one meter ended."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One anomaly or meter event (e.g. ``voltage_low`` starting or ending) at one time.

    ``active`` is True when the condition starts and False when it clears, so that durations can be
    computed from the stored stream. ``quality`` says whether the event was read from the meter's
    own log (actual, backfilled) or inferred by the head-end (estimated).
    """

    meter: str
    event: str
    timestamp: datetime
    severity: Severity = Severity.WARNING
    active: bool = True
    value: float | None = None
    detail: str = ""
    quality: Quality = Quality.ESTIMATED
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY_TAGS)

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError(f"event {self.meter}/{self.event}: timestamp must be timezone-aware")
        if not self.event:
            raise ValueError(f"event for meter {self.meter}: empty event name")


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    """The result of one collection round for one meter: completeness and why it fell short."""

    meter: str
    timestamp: datetime
    outcome: CollectionOutcome
    attempted: int
    succeeded: int
    latency_s: float | None = None
    reason: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY_TAGS)

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError(f"collection status {self.meter}: timestamp must be timezone-aware")
        if not 0 <= self.succeeded <= self.attempted:
            raise ValueError(
                f"collection status {self.meter}: succeeded={self.succeeded} must be within "
                f"0..attempted={self.attempted}"
            )
