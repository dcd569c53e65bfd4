"""The driver: readings in, anomaly events out.

The head-end feeds every reading it collects to ``ingest`` (cheap: a few array writes) and calls
``sweep`` on its own schedule (e.g. once a minute); the sweep evaluates every rule over the
whole fleet and returns only lifecycle transitions. Publishing them to storage and MQTT is the
caller's job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from headend.anomaly.config import AnomalyConfig
from headend.anomaly.errors import AnomalyError, ReadingRejectedError
from headend.anomaly.events import AnomalyEvent, AnomalyKind, SubjectKind
from headend.anomaly.fleet import FleetLayout, FleetSnapshot
from headend.anomaly.ingest import apply_meter_reading, apply_transformer_reading
from headend.anomaly.rules.loading import TransformerLoading
from headend.anomaly.ruleset import RuleSet
from headend.anomaly.tracker import EventTracker
from storage.records import Reading, ReadingKind

log = logging.getLogger(__name__)


class AnomalyDetector:
    """Fleet snapshot + rules + one event tracker per (kind, subject kind)."""

    def __init__(self, layout: FleetLayout, config: AnomalyConfig | None = None) -> None:
        self.layout = layout
        self.config = config if config is not None else AnomalyConfig()
        self.rules = RuleSet(layout, self.config)
        self.snapshot = FleetSnapshot.for_layout(layout)
        subjects: Mapping[SubjectKind, Sequence[str]] = {
            SubjectKind.METER: layout.meter_ids,
            SubjectKind.TRANSFORMER: layout.transformer_ids,
            SubjectKind.BUILDING: layout.building_ids,
        }
        self._trackers = [
            EventTracker(spec, subjects[spec.subject], self.config.timing(spec.kind))
            for spec in self.rules.specs
        ]
        self._unknown: set[str] = set()
        self._rejected_keys: set[tuple[str, str]] = set()
        self.rejected = 0
        """Readings ``ingest_many`` refused (counted, logged once per device and quantity)."""

    def ingest(self, reading: Reading) -> bool:
        """Record one reading; False when the device or quantity is not one the rules use.

        Devices not in the layout are logged once each (the fleet changed, or a typo in the
        tags), then ignored.
        """
        row = self.layout.meter_index.get(reading.meter)
        if row is not None:
            return apply_meter_reading(self.snapshot, row, reading)
        row = self.layout.transformer_source_index.get(reading.meter)
        if row is not None:
            return apply_transformer_reading(self.snapshot, row, reading)
        if reading.kind is ReadingKind.FROZEN:
            return False  # billing values (a concentrator's meters too): no rule reads them
        if reading.meter not in self._unknown:
            self._unknown.add(reading.meter)
            log.warning("anomaly detector: device %s is not in the fleet layout", reading.meter)
        return False

    def ingest_many(self, readings: Iterable[Reading]) -> int:
        """Record many readings; returns how many were used.

        The head-end's hot path: a reading the rules cannot use (a unit they do not know) is
        counted and logged once per device and quantity, and the others still go in, so one
        odd terminal point cannot stop collection.
        """
        used = 0
        for reading in readings:
            try:
                used += self.ingest(reading)
            except ReadingRejectedError as exc:
                self.rejected += 1
                key = (reading.meter, reading.quantity)
                if key not in self._rejected_keys:
                    self._rejected_keys.add(key)
                    log.warning("anomaly detector: %s", exc)
        return used

    def sweep(self, now: datetime) -> list[AnomalyEvent]:
        """Evaluate every rule at ``now`` (UTC, non-decreasing) and return the transitions."""
        if now.tzinfo is None:
            raise AnomalyError(f"sweep time {now.isoformat()} must be timezone-aware (UTC)")
        events: list[AnomalyEvent] = []
        for tracker, condition in zip(
            self._trackers, self.rules.evaluate(self.snapshot), strict=True
        ):
            events.extend(tracker.update(now, condition))
        return events

    def transformer_loading(self) -> TransformerLoading:
        """Each transformer's power and load rate now, computed as the load rules compute it
        (the API shows this, so the dashboard and the overload alarm agree)."""
        return self.rules.transformer_loading(self.snapshot)

    def open_incidents(self) -> dict[tuple[AnomalyKind, SubjectKind], list[str]]:
        """Subjects with a raised, not yet cleared event, per (kind, subject kind)."""
        return {
            (t.spec.kind, t.spec.subject): t.active_subjects()
            for t in self._trackers
            if t.active_count
        }
