"""Anomaly sweeps over the fleet: the detector's layout, the periodic sweep, and fleet changes.

The detector works on fixed-size numpy arrays laid out from the registry (meters under a
transformer, by building); a fleet change rebuilds it. Its events become alarms, stored and
announced like every other event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from headend.anomaly import AnomalyDetector, FleetLayout
from headend.anomaly.alarms import AlarmBook
from headend.anomaly.config import AnomalyConfig
from headend.clock import Clock
from headend.collection.registry import MeterRegistry
from headend.config.fleet import LOAD_METER, FleetConfig
from storage.records import EventRecord, Reading

log = logging.getLogger(__name__)

NO_BUILDING = "(no building)"

RecordEvents = Callable[[list[EventRecord]], None]


def fleet_layout(registry: MeterRegistry, config: FleetConfig) -> FleetLayout:
    """The anomaly layout: meters under a transformer (a meter outside any 台区 has no
    transformer to judge it against, so it is left out and said so)."""
    meters = [m for m in registry if m.transformer and m.kind == LOAD_METER]
    lv_side = {m.id: m.transformer for m in registry if m.kind != LOAD_METER and m.transformer}
    left_out = sum(1 for m in registry if not m.transformer)
    if left_out:
        log.warning("anomaly detection skips %d meters without a transformer", left_out)
    transformers = list(config.transformers.values())
    layout_id = {t.name: t.terminal or t.name for t in transformers}
    index = {t.name: i for i, t in enumerate(transformers)}
    buildings = sorted({m.building or NO_BUILDING for m in meters})
    building_index = {b: i for i, b in enumerate(buildings)}
    return FleetLayout(
        meter_ids=[m.id for m in meters],
        transformer_ids=[t.terminal or t.name for t in transformers],
        rated_kva=[t.rated_kva for t in transformers],
        meter_transformer=[index[m.transformer or ""] for m in meters],
        building_ids=buildings,
        meter_building=[building_index[m.building or NO_BUILDING] for m in meters],
        three_phase=[m.phase == "ABC" for m in meters],
        transformer_devices={device: layout_id[t] for device, t in lv_side.items()},
    )


class AnomalySweeps:
    def __init__(
        self,
        registry: MeterRegistry,
        config: FleetConfig,
        *,
        alarms: AlarmBook,
        clock: Clock,
        record_events: RecordEvents,
        rules: AnomalyConfig | None,
        interval: float,
    ) -> None:
        """``interval``: seconds of engine-clock time between sweeps."""
        self._registry = registry
        self._config = config
        self._alarms = alarms
        self._clock = clock
        self._record_events = record_events
        self._rules = rules
        self._interval = interval
        self.detector = AnomalyDetector(fleet_layout(registry, config), rules)
        self.last_sweep: datetime | None = None

    def ingest(self, readings: list[Reading]) -> None:
        """Readings for the current detector (a fleet change replaces it)."""
        self.detector.ingest_many(readings)

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self._clock.real_seconds(self._interval))
            self.sweep()

    def sweep(self) -> list[EventRecord]:
        """One anomaly sweep at the engine's current time; records go to storage.

        A wall clock stepped back (NTP) skips sweeps until it passes the last one: the event
        lifecycle needs time that only moves forward, and collection must not stop for it.
        """
        now = self._clock.now()
        if self.last_sweep is not None and now <= self.last_sweep:
            log.warning("clock went back to %s: anomaly sweep skipped", now.isoformat())
            return []
        self.last_sweep = now
        records = []
        for event in self.detector.sweep(now):
            records.append(self._alarms.anomaly(event, self._subject_tags(event.subject_id)))
        if records:
            self._record_events(records)
        return records

    def _subject_tags(self, subject: str) -> dict[str, str]:
        if subject in self._registry:
            return self._registry.get(subject).tags()
        return {}

    def fleet_changed(self, meter_id: str) -> None:
        """The layout is fixed-size numpy arrays: a fleet change rebuilds it. The new trackers
        know nothing of open incidents, so those are closed here and raised again by the next
        sweeps if their conditions still hold (fleet changes are rare)."""
        self.detector = AnomalyDetector(fleet_layout(self._registry, self._config), self._rules)
        self.last_sweep = None
        closed = self._alarms.close_rule_alarms(self._clock.now(), f"fleet changed ({meter_id})")
        if closed:
            self._record_events(closed)
