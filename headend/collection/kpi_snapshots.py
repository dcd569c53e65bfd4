"""Daily KPI snapshots: the meter-days of the recent days written to ``kpi.sqlite`` on a timer.

Why not only when someone asks: a day nobody looked at while its points were stored would
otherwise be computed, later, from whatever the store still holds then (after a retention
prune, after the fleet changed). Each pass merges the meter-days of every day of the
collection window (``window_days`` back to today) into the KPI file
(``storage.kpi.store.KpiStore.merge``), so every day gets its figures kept while its values are
being collected and re-read. A failed pass is logged once per change of state and tried again
on the next one; it never stops collection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from headend.clock import Clock
from headend.collection.kpi import daily_frozen_bus_meters, due_meters, meter_days
from headend.config.fleet import FleetConfig, MeterConfig
from headend.config.terminals import ConcentratorConfig
from storage.archive.records import ArchiveMeter
from storage.archive.store import load_archive
from storage.billing import BillingSource
from storage.kpi.outcomes import MeterDay
from storage.kpi.store import KpiStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SnapshotStats:
    passes: int = 0
    meter_days: int = 0
    failures: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class KpiSnapshots:
    kpi_path: Path
    archive_path: Path | None
    history: BillingSource
    bus_meters: Callable[[], Iterable[MeterConfig]]
    """The bus meters due daily values now (the registry changes at run time)."""
    terminals: Mapping[str, ConcentratorConfig]
    tz: ZoneInfo
    clock: Clock
    window_days: int
    interval: float = 3600.0
    """Engine-clock seconds between passes."""
    stats: SnapshotStats = field(default_factory=SnapshotStats)

    async def run_pass(self) -> int:
        """Merge the meter-days of the window into the KPI file; returns how many."""
        today = self.clock.now().astimezone(self.tz).date()
        archive = await asyncio.to_thread(self._archive)
        bus = list(self.bus_meters())
        written = 0
        for offset in range(self.window_days, -1, -1):
            day = today - timedelta(days=offset)
            due = due_meters(bus, self.terminals, archive, day)
            computed = await meter_days(self.history, due, day, self.tz)
            merged = await asyncio.to_thread(self._merge, day, computed)
            written += len(merged)
        self.stats.passes += 1
        self.stats.meter_days = written
        return written

    async def day_outcomes(self, day: date) -> list[MeterDay]:
        """The meter-days of ``day`` merged into the KPI file, as ``/api/kpi/collection`` sums
        them (the daily hand-off's KPI report)."""
        archive = await asyncio.to_thread(self._archive)
        due = due_meters(list(self.bus_meters()), self.terminals, archive, day)
        computed = await meter_days(self.history, due, day, self.tz)
        return await asyncio.to_thread(self._merge, day, computed)

    async def loop(self) -> None:
        while True:
            try:
                await self.run_pass()
                if self.stats.last_error is not None:
                    log.info("KPI snapshots written again to %s", self.kpi_path)
                self.stats.last_error = None
            except Exception as exc:  # a snapshot must not stop collection
                self.stats.failures += 1
                if self.stats.last_error is None:
                    log.warning("KPI snapshot to %s failed: %s", self.kpi_path, exc)
                self.stats.last_error = str(exc)
            await asyncio.sleep(self.clock.real_seconds(self.interval))

    def _archive(self) -> dict[str, ArchiveMeter]:
        if self.archive_path is None or not self.archive_path.exists():
            return {}
        return {meter.id: meter for meter in load_archive(self.archive_path)}

    def _merge(self, day: date, computed: Sequence[MeterDay]) -> list[MeterDay]:
        with KpiStore.open(self.kpi_path) as store:
            return store.merge(day, computed)


def window_days(plans_backfill_days: Iterable[int], terminals: Iterable[ConcentratorConfig]) -> int:
    """The days values may still arrive for: the longest backfill or concentrator window."""
    return max([0, *plans_backfill_days, *(t.keeps_days for t in terminals)]) + 1


def snapshots_for(
    config: FleetConfig,
    registry: Iterable[MeterConfig],
    history: BillingSource | None,
    clock: Clock,
    kpi_path: Path | None,
    archive_path: Path | None,
    interval: float,
) -> KpiSnapshots | None:
    """The engine's snapshot loop, or None without a KPI file or a queryable store."""
    if kpi_path is None or history is None:
        return None
    return KpiSnapshots(
        kpi_path=kpi_path,
        archive_path=archive_path,
        history=history,
        bus_meters=lambda: daily_frozen_bus_meters(registry, config.plans),
        terminals=config.terminals,
        tz=ZoneInfo(config.timezone),
        clock=clock,
        window_days=window_days(
            (plan.backfill_days for plan in config.plans.values()), config.terminals.values()
        ),
        interval=interval,
    )
