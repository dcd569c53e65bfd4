"""Alarms the head-end raises about its own state: a meter going offline, storage refusing.

Both are events like the anomaly rules' (stored, then announced live), but they come from
collection itself: the meter health of the collectors and on-demand reads, and the record
writer's storage state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from headend.anomaly.alarms import AlarmBook
from headend.clock import Clock
from headend.collection.health import HealthChange
from headend.collection.writer import StorageState, WriterLimits
from headend.config.fleet import MeterConfig
from storage.errors import OutboxFull, StorageError, StorageFull
from storage.records import EventRecord, Severity

log = logging.getLogger(__name__)

RecordEvents = Callable[[list[EventRecord]], None]


class StateAlarms:
    def __init__(
        self,
        alarms: AlarmBook,
        clock: Clock,
        *,
        record_events: RecordEvents,
        writer_limits: WriterLimits,
    ) -> None:
        self._alarms = alarms
        self._clock = clock
        self._record_events = record_events
        self._limits = writer_limits
        self._storage_alarm: str | None = None

    async def health_changed(self, meter: MeterConfig, change: HealthChange, detail: str) -> None:
        offline = change is HealthChange.WENT_OFFLINE
        if offline:
            log.warning("meter %s offline: %s", meter.id, detail)
        else:
            log.info("meter %s online again", meter.id)
        record = self._alarms.meter_event(
            meter.id,
            HealthChange.WENT_OFFLINE.value,
            active=offline,
            at=self._clock.now(),
            detail=detail,
            severity=Severity.WARNING,
            tags=meter.tags(),
        )
        self._record_events([record])

    def storage_state_changed(self, state: StorageState, error: StorageError | None) -> None:
        """Storage refusing writes is an alarm: it says why, and closes when writes work again."""
        now = self._clock.now()
        if self._storage_alarm is not None:
            closed = self._alarms.meter_event(
                "storage",
                self._storage_alarm,
                active=False,
                at=now,
                detail="storage accepts writes again",
                severity=Severity.INFO,
                tags={},
            )
            self._storage_alarm = None
            self._record_events([closed])
        if state is StorageState.OK or error is None:
            return
        if isinstance(error, OutboxFull):
            kind = "outbox_full"
        elif isinstance(error, StorageFull):
            kind = "disk_full"
        else:
            kind = "storage_failing"
        self._storage_alarm = kind
        record = self._alarms.meter_event(
            "storage",
            kind,
            active=True,
            at=now,
            detail=f"{error} (buffering up to {self._limits.limit} records, then "
            f"{self._limits.overflow.value})",
            severity=Severity.CRITICAL,
            tags={},
        )
        self._record_events([record])
