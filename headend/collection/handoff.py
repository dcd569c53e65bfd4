"""The daily hand-off: the previous day's reads and KPIs to a folder and/or a webhook, and a
correction whenever late values change a day already handed off (docs/exports.md).

Each pass (at start, at the configured local time, and every ``CHECK_INTERVAL_S`` of engine
time) first hands off every day whose time has come (``handoff_schedule``), then looks for
corrections: the change-log entries logged since the ledger's cursor (``since``, as a billing
poller would) name the days they belong to; each such day already handed off whose latest
hand-off does not cover them gets a correction with the next sequence number holding only what
changed (the entries after that hand-off's ``upto``, the latest of each key), and its KPI
report again. Files are written first (atomically), then recorded in the ledger with their
pending deliveries and the advanced cursor in one transaction: a crash in between makes the
same hand-off again under the same name, never a gap. Before each pass the archive's meter
exchanges are logged (their crew's reads) and the lost freezes estimated
(``storage.exports.exchange_log``, ``estimate_log``), as a poll of the export does: the
hand-off carries them too, and names a freeze after an exchange by the new meter. A failed pass
is counted, logged once per change of state and tried again on the next; it never stops
collection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Final, TypeVar
from zoneinfo import ZoneInfo

from headend.clock import Clock
from headend.collection.customers import customers_of
from headend.collection.handoff_files import (
    day_page,
    file_names,
    write_kpi,
    write_settlement,
)
from headend.collection.handoff_schedule import due_days, latest_due, next_run
from headend.collection.handoff_webhook import HandoffWebhook
from headend.collection.kpi_snapshots import KpiSnapshots
from headend.collection.registry import MeterRegistry
from headend.config.fleet import FleetConfig, MeterConfig
from headend.config.handoff import HandoffConfig
from headend.config.terminals import TerminalMeterConfig
from storage.archive.records import ArchiveMeter, MeterExchange
from storage.archive.store import ArchiveStore, load_archive
from storage.exports.change_log import MAX_PAGE, DayChangeSource
from storage.exports.exchange_log import ExchangeLog, usage_points
from storage.exports.settlement_csv import Customer
from storage.handoff.ledger import LEDGER_FILE, Destination, Handoff, HandoffLedger
from storage.handoff.settlement_rows import Customers
from storage.kpi.outcomes import MeterDay

log = logging.getLogger(__name__)

CHECK_INTERVAL_S: Final = 300.0
"""Engine-clock seconds between two looks for corrections (and late days)."""
SPOOL_FOLDER: Final = "handoffs"
"""``<data-dir>/handoffs``: where the files are kept when no folder is configured."""
T = TypeVar("T")


@dataclass(slots=True)
class HandoffStats:
    passes: int = 0
    daily: int = 0
    """Daily hand-offs made."""
    corrections: int = 0
    rows: int = 0
    """Settlement rows written, daily and corrections."""
    failures: int = 0
    """Passes that failed (retried on the next)."""
    last_error: str | None = None
    next_run: datetime | None = None


@dataclass(slots=True)
class DailyHandoff:
    config: HandoffConfig
    source: DayChangeSource
    ledger_path: Path
    folder: Path
    """Where the files are written: the configured folder, or ``<data-dir>/handoffs``."""
    tz: ZoneInfo
    clock: Clock
    kpi_days: Callable[[date], Awaitable[Sequence[MeterDay]]]
    bus_meters: Callable[[], Mapping[str, MeterConfig]]
    terminal_meters: Mapping[str, TerminalMeterConfig]
    archive_path: Path | None = None
    webhook: HandoffWebhook | None = None
    check_interval: float = CHECK_INTERVAL_S
    stats: HandoffStats = field(default_factory=HandoffStats)

    @property
    def destinations(self) -> tuple[Destination, ...]:
        chosen = []
        if self.config.folder is not None:
            chosen.append(Destination.FOLDER)
        if self.webhook is not None:
            chosen.append(Destination.WEBHOOK)
        return tuple(chosen)

    async def loop(self) -> None:
        while True:
            try:
                await self.run_pass()
                if self.stats.last_error is not None:
                    log.info("daily hand-off works again (%s)", self.folder)
                self.stats.last_error = None
            except Exception as exc:  # a hand-off must not stop collection
                self.stats.failures += 1
                if self.stats.last_error is None:
                    log.warning("daily hand-off failed (retried): %s", exc)
                self.stats.last_error = str(exc)
            now = self.clock.now()
            scheduled = next_run(now, self.config.at, self.tz)
            self.stats.next_run = scheduled
            wake = min(scheduled, now + _seconds(self.check_interval))
            await self.clock.sleep_until(wake)

    async def run_pass(self) -> list[Handoff]:
        """Hand off the days due, then the corrections; returns what was made."""
        await self.log_archive_reads()  # before the cursor is read: they are in it
        now = self.clock.now()
        cursor = await self.source.last_change()
        today = now.astimezone(self.tz).date()
        first = await self._ledger(lambda ledger: ledger.begin(today, cursor))
        last = await self._ledger(lambda ledger: ledger.last_daily_day())
        made: list[Handoff] = []
        for day in due_days(latest_due(now, self.config.at, self.tz), first, last):
            daily = await self.hand_off(day, 0, after=0)
            if daily is not None:
                made.append(daily)
        made.extend(await self.corrections())
        self.stats.passes += 1
        return made

    async def corrections(self) -> list[Handoff]:
        """A correction for every day handed off that entries after the cursor changed."""
        cursor = await self._ledger(lambda ledger: ledger.cursor())
        upto = await self.source.last_change()
        days: set[date] = set()
        since = cursor
        while since < upto:
            page = await self.source.changes(since, MAX_PAGE)
            days.update(e.timestamp.astimezone(self.tz).date() for e in page if e.seq <= upto)
            if len(page) < MAX_PAGE:
                break
            since = page[-1].seq
        made: list[Handoff] = []
        for day in sorted(days):
            latest = await self._ledger(partial(HandoffLedger.latest, day=day))
            if latest is None or latest.upto >= upto:
                continue  # not handed off yet (its daily carries it), or already covered
            correction = await self.hand_off(day, latest.sequence + 1, after=latest.upto)
            if correction is not None:
                made.append(correction)
        if upto > cursor:
            await self._ledger(lambda ledger: ledger.set_cursor(upto))
        return made

    async def log_archive_reads(self) -> None:
        """The exchanges' crew reads and the lost freezes' estimates into the change log, as
        a poll of the export logs them (idempotent; only what is new is estimated)."""
        if not isinstance(self.source, ExchangeLog):
            return
        exchanges = await asyncio.to_thread(self._exchanges)
        if exchanges:
            await self.source.log_exchange_reads(exchanges)
        await self.source.log_estimates(self.tz, exchanges)

    async def hand_off(self, day: date, sequence: int, *, after: int) -> Handoff | None:
        """Write and record one hand-off; None for a correction with nothing changed."""
        upto = await self.source.last_change()
        settlement, kpi = file_names(day, sequence)
        exchanges = await asyncio.to_thread(self._exchanges)
        customers = await self._customers(exchanges)
        page = day_page(day, self.tz, after, upto)
        rows = await write_settlement(
            self.source,
            self.folder / settlement,
            page,
            customers,
            self.tz,
            keep_empty=sequence == 0,
            exchanges=exchanges,
        )
        if sequence > 0 and rows == 0:
            return None  # nothing changed after all: no file was written
        meter_days = await self.kpi_days(day)
        await asyncio.to_thread(write_kpi, self.folder / kpi, meter_days, day)
        handoff = Handoff(day, sequence, after, upto, rows, (settlement, kpi), self.clock.now())
        destinations = self.destinations
        recorded = await self._ledger(lambda ledger: ledger.record(handoff, destinations))
        if sequence == 0:
            self.stats.daily += 1
        else:
            self.stats.corrections += 1
        self.stats.rows += rows
        log.info(
            "hand-off of %s #%d (%s): %d reads in %s",
            day,
            sequence,
            handoff.kind.value,
            rows,
            self.folder / settlement,
        )
        if self.webhook is not None:
            self.webhook.wake()
        return recorded

    async def run_day(self, day: date) -> Handoff | None:
        """By hand: ``day``'s daily hand-off if it has none, else a correction of what changed
        since its last one (None: nothing did). A day after today is refused."""
        today = self.clock.now().astimezone(self.tz).date()
        if day > today:
            raise ValueError(f"day {day} is after today ({today}): its reads are not frozen yet")
        await self.log_archive_reads()
        latest = await self._ledger(partial(HandoffLedger.latest, day=day))
        if latest is None:
            return await self.hand_off(day, 0, after=0)
        return await self.hand_off(day, latest.sequence + 1, after=latest.upto)

    def handoffs(self, start: date | None = None, end: date | None = None) -> list[Handoff]:
        """The ledger's hand-offs (blocking: call in a thread)."""
        if not self.ledger_path.exists():
            return []
        with HandoffLedger.open(self.ledger_path) as ledger:
            return ledger.handoffs(start, end)

    async def _customers(self, exchanges: Sequence[MeterExchange]) -> Customers:
        archive = await asyncio.to_thread(self._archive)
        bus = self.bus_meters()
        behind = self.terminal_meters
        points = usage_points(exchanges)

        def of(meters: set[str]) -> dict[str, Customer]:
            return customers_of(meters, archive, bus, behind, points)

        return of

    def _archive(self) -> dict[str, ArchiveMeter]:
        if self.archive_path is None or not self.archive_path.exists():
            return {}
        return {meter.id: meter for meter in load_archive(self.archive_path)}

    def _exchanges(self) -> list[MeterExchange]:
        if self.archive_path is None or not self.archive_path.exists():
            return []
        with ArchiveStore.open(self.archive_path) as archive:
            return archive.exchanges()

    async def _ledger(self, act: Callable[[HandoffLedger], T]) -> T:
        def run() -> T:
            with HandoffLedger.open(self.ledger_path) as ledger:
                return act(ledger)

        return await asyncio.to_thread(run)


def _seconds(span: float) -> timedelta:
    return timedelta(seconds=span)


def handoff_for(
    config: FleetConfig,
    history: object,
    clock: Clock,
    data_dir: Path | None,
    kpi: KpiSnapshots | None,
    registry: MeterRegistry,
    archive_path: Path | None,
    authorization: str | None,
) -> DailyHandoff | None:
    """The engine's hand-off, or None without a ``[handoff]`` table, a data dir (the ledger's
    place) or a store that keeps the change log (the fleet file's check makes that rare)."""
    chosen = config.handoff
    if chosen is None or data_dir is None:
        return None
    if not isinstance(history, DayChangeSource):
        log.warning("[handoff] needs the embedded store's change log: no hand-off")
        return None
    folder = chosen.folder if chosen.folder is not None else data_dir / SPOOL_FOLDER
    ledger_path = data_dir / LEDGER_FILE
    webhook = None
    if chosen.webhook is not None:
        webhook = HandoffWebhook(
            chosen.webhook,
            folder,
            ledger_path,
            clock.now,
            authorization=authorization,
            timeout=chosen.timeout,
            retry_max=chosen.retry_max,
        )

    async def kpi_days(day: date) -> Sequence[MeterDay]:
        return [] if kpi is None else await kpi.day_outcomes(day)

    terminal_meters = {m.id: m for t in config.terminals.values() for m in t.meters}
    return DailyHandoff(
        config=chosen,
        source=history,
        ledger_path=ledger_path,
        folder=folder,
        tz=ZoneInfo(config.timezone),
        clock=clock,
        kpi_days=kpi_days,
        bus_meters=registry.by_id,
        terminal_meters=terminal_meters,
        archive_path=archive_path,
        webhook=webhook,
    )
