"""A concentrator's other frozen values: daily reverse energy (F163) and the month's freeze (F177).

Besides the forward register of each day (F161, ``terminal_pull``), a concentrator freezes its
meters' reverse active register every day (a household with a PV roof exports) and the
forward register at each month's end (the settlement reading 月冻结); the master asks for them
by date (AFN 0D F163, Td_d) and by month (F177, Td_m). After the day's F161 the pull asks each
terminal for these too, the same way: the newest period first for all its meters (64 pn a
request), then each older period still missing for some meter (补抄), within what the terminal
keeps (``keeps_days`` days, ``MONTHS_ASKED`` months).

Readings are stamped with their freeze time: the end of day D (local midnight starting D + 1)
for F163, as F161's; the end of month M (local midnight starting the 1st of M + 1) for F177.
The newest period got on its first request is ``actual``, anything later ``backfilled``.
Names: ``energy_active_export_total`` and ``_t1`` .. ``_t4`` (the reverse register, kind
frozen), ``settlement_energy_active_import_total`` and ``_t1`` .. ``_t4`` (the DL/T 645
catalogue's name of a month's settlement reading). A period is marked stored only once the
writer says so; the rest is asked again at the next pass.

A terminal that denies a request (AFN 00 F2: no record of that period, or no such item) is
asked again at the next pass, as F161 is: the two cannot be told apart on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from headend.collection.collector import ReadingsHandler
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline, TerminalSession
from protocols.gdw1376.master_session import TerminalReply
from protocols.gdw1376.messages import DataUnit, UnitSpec
from storage.billing import BillingSource, frozen_points
from storage.records import Quality, Reading, ReadingKind

log = logging.getLogger(__name__)

POINTS_PER_REQUEST = 64
MONTHS_ASKED = 3
"""Months back the master asks for (the terminal keeps 12; three cover a month-end the master
missed while down, without asking a year of months every pass)."""
TARIFFS = 4
UNIT = "kWh"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    name: str
    fn: int
    values: str
    """The unit's register list (``forward_active`` or ``reverse_active``)."""
    total: str
    tariff: str
    monthly: bool

    @property
    def quantities(self) -> tuple[str, ...]:
        return (self.total, *(self.tariff.format(n) for n in range(1, TARIFFS + 1)))


DAILY_REVERSE = HistoryItem(
    "daily_reverse",
    163,
    "reverse_active",
    "energy_active_export_total",
    "energy_active_export_t{}",
    monthly=False,
)
MONTHLY_FORWARD = HistoryItem(
    "monthly_forward",
    177,
    "forward_active",
    "settlement_energy_active_import_total",
    "settlement_energy_active_import_t{}",
    monthly=True,
)


@dataclass(frozen=True, slots=True)
class CurveItem:
    """A curve (AFN 0D F81 onward): one value every ``CURVE_STEP`` of a day (Td_c)."""

    name: str
    fn: int
    quantity: str
    unit: str


CURVES = (
    CurveItem("power_curve", 81, "power_active_total", "kW"),
    CurveItem("voltage_curve", 89, "voltage_a", "V"),
    CurveItem("current_curve", 92, "current_a", "A"),
)
"""Total active power (A.9), phase A voltage (A.7) and current (A.25): what a household
meter's curve shows of its supply and load."""
CURVE_DENSITY = 1
"""Td_c density code 1: a point every 15 minutes (the usual 负荷曲线 interval)."""
CURVE_STEP = timedelta(minutes=15)
CURVE_POINTS = 96
CURVE_POINTS_PER_REQUEST = 8
"""One DA group a request: 8 x 96 points is about 2 KiB of reply, where 64 meters would be
a reply of several frames of the largest size."""
HISTORY_QUANTITIES = (
    *DAILY_REVERSE.quantities,
    *MONTHLY_FORWARD.quantities,
    *(curve.quantity for curve in CURVES),
)


@dataclass(slots=True)
class HistoryStats:
    requests: int = 0
    denied: int = 0
    failures: int = 0
    stored: int = 0
    """Meter-periods stored."""


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def freeze_time(item: HistoryItem, period: date, tz: ZoneInfo) -> datetime:
    """The end of the day or month ``period``: the instant the terminal froze it."""
    end = next_month(period) if item.monthly else period + timedelta(days=1)
    return datetime.combine(end, time(), tz).astimezone(UTC)


@dataclass(slots=True)
class HistoryPull:
    master: MasterConfig
    tz: ZoneInfo
    emit: ReadingsHandler
    items: tuple[HistoryItem, ...] = (DAILY_REVERSE, MONTHLY_FORWARD)
    curves: tuple[CurveItem, ...] = CURVES
    stats: HistoryStats = field(default_factory=HistoryStats)
    _have: dict[tuple[str, str], set[date]] = field(default_factory=dict)
    """(item name, meter id) -> periods stored."""
    _attempted: dict[tuple[str, str], set[date]] = field(default_factory=dict)

    def periods(self, item: HistoryItem, terminal: ConcentratorConfig, today: date) -> list[date]:
        """Newest first: the days the terminal keeps, or the last ``MONTHS_ASKED`` months."""
        if not item.monthly:
            return [today - timedelta(days=n) for n in range(1, terminal.keeps_days + 1)]
        months = [month_start(month_start(today) - timedelta(days=1))]
        while len(months) < MONTHS_ASKED:
            months.append(month_start(months[-1] - timedelta(days=1)))
        return months

    def has(self, item: HistoryItem | CurveItem, meter_id: str, period: date) -> bool:
        return period in self._have.get((item.name, meter_id), ())

    async def pull(
        self, session: TerminalSession, terminal: ConcentratorConfig, today: date
    ) -> None:
        """Every item, newest period first; stops at a request the terminal does not answer
        (``TerminalOffline`` goes to the caller, as the F161 pull's)."""
        for item in self.items:
            periods = self.periods(item, terminal, today)
            for period in periods:
                lacking = [m for m in terminal.meters if not self.has(item, m.id, period)]
                for at in range(0, len(lacking), POINTS_PER_REQUEST):
                    chunk = lacking[at : at + POINTS_PER_REQUEST]
                    newest = period == periods[0]
                    if not await self._pull_chunk(session, terminal, item, chunk, period, newest):
                        return
        yesterday = today - timedelta(days=1)
        for curve in self.curves:
            lacking = [m for m in terminal.meters if not self.has(curve, m.id, yesterday)]
            for at in range(0, len(lacking), CURVE_POINTS_PER_REQUEST):
                chunk = lacking[at : at + CURVE_POINTS_PER_REQUEST]
                if not await self._pull_curve(session, terminal, curve, chunk, yesterday):
                    return

    async def _pull_curve(
        self,
        session: TerminalSession,
        terminal: ConcentratorConfig,
        curve: CurveItem,
        chunk: Sequence[TerminalMeterConfig],
        day: date,
    ) -> bool:
        """Yesterday's curve of each meter in ``chunk``, from 00:00 (the terminal's clock)."""
        start = datetime.combine(day, time())
        window = {"td_c_start": start, "td_c_density": CURVE_DENSITY, "td_c_points": CURVE_POINTS}
        specs: list[UnitSpec] = [(m.pn, curve.fn, window) for m in chunk]
        reply = await self._ask(session, terminal, curve.fn, specs, day)
        if reply is None:
            return False
        by_point = {m.pn: m for m in chunk}
        found = []
        for unit in [] if reply.denied else reply.units:
            meter = by_point.pop(unit.point, None)
            if meter is None or unit.item != curve.fn:
                continue
            if unit.values.get("td_c_start") != start:
                log.warning(
                    "terminal %s pn %d F%d: asked from %s, got %s",
                    terminal.name,
                    unit.point,
                    curve.fn,
                    start,
                    unit.values.get("td_c_start"),
                )
                continue
            readings = self._curve_readings(curve, meter, start, unit.values.get("values") or ())
            if readings:
                found.append((meter, readings))
        if found:
            readings = [r for _, rs in found for r in rs]
            await self.emit(readings, then=partial(self._stored, curve, day, found))
        return True

    def _curve_readings(
        self, curve: CurveItem, meter: TerminalMeterConfig, start: datetime, values: Sequence[Any]
    ) -> list[Reading]:
        """Each point at its own time, ``backfilled``: a curve is read the day after."""
        tags = meter.tags()
        instant, late = ReadingKind.INSTANT, Quality.BACKFILLED
        return [
            Reading.actual(
                meter.id,
                curve.quantity,
                float(value),
                curve.unit,
                (start + n * CURVE_STEP).replace(tzinfo=self.tz).astimezone(UTC),
                instant,
                tags,
                late,
            )
            for n, value in enumerate(values)
            if value is not None  # EEH: the terminal has no point there
        ]

    async def _ask(
        self,
        session: TerminalSession,
        terminal: ConcentratorConfig,
        fn: int,
        specs: list[UnitSpec],
        period: date,
    ) -> TerminalReply | None:
        """The reply, or None when the terminal did not answer (logged, counted)."""
        self.stats.requests += 1
        try:
            reply = await session.request(
                0x0D, specs, reply_timeout=self.master.reply_timeout, retries=self.master.retries
            )
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            self.stats.failures += 1
            log.warning("terminal %s: F%d of %s not pulled: %s", terminal.name, fn, period, exc)
            return None
        if reply.denied:
            self.stats.denied += 1
        return reply

    async def _pull_chunk(
        self,
        session: TerminalSession,
        terminal: ConcentratorConfig,
        item: HistoryItem,
        chunk: Sequence[TerminalMeterConfig],
        period: date,
        newest: bool,
    ) -> bool:
        label = {"td_m": period} if item.monthly else {"td_d": period}
        specs: list[UnitSpec] = [(m.pn, item.fn, label) for m in chunk]
        reply = await self._ask(session, terminal, item.fn, specs, period)
        if reply is None:
            self._attempt(item, chunk, period)
            return False
        found = [] if reply.denied else self._found(item, chunk, period, newest, reply.units)
        self._attempt(item, chunk, period)
        if found:
            readings = [r for _, rs in found for r in rs]
            await self.emit(readings, then=partial(self._stored, item, period, found))
        return True

    def _attempt(
        self, item: HistoryItem, meters: Sequence[TerminalMeterConfig], period: date
    ) -> None:
        for meter in meters:
            self._attempted.setdefault((item.name, meter.id), set()).add(period)

    def _found(
        self,
        item: HistoryItem,
        meters: Sequence[TerminalMeterConfig],
        period: date,
        newest: bool,
        units: Sequence[DataUnit],
    ) -> list[tuple[TerminalMeterConfig, list[Reading]]]:
        by_point = {m.pn: m for m in meters}
        frozen_at = freeze_time(item, period, self.tz)
        label = "td_m" if item.monthly else "td_d"
        found = []
        for unit in units:
            meter = by_point.pop(unit.point, None)
            if meter is None or unit.item != item.fn:
                continue
            if unit.values.get(label) != period:
                log.warning(
                    "terminal %s pn %d F%d: asked for %s, got %s",
                    meter.terminal,
                    unit.point,
                    item.fn,
                    period,
                    unit.values.get(label),
                )
                continue
            first = newest and period not in self._attempted.get((item.name, meter.id), ())
            readings = _readings(item, meter, frozen_at, unit.values, first)
            if readings:
                found.append((meter, readings))
        return found

    def _stored(
        self,
        item: HistoryItem | CurveItem,
        period: date,
        found: list[tuple[TerminalMeterConfig, list[Reading]]],
        stored: bool,
    ) -> None:
        if not stored:
            return  # the writer dropped them: asked for again next pass
        for meter, _ in found:
            self._have.setdefault((item.name, meter.id), set()).add(period)
            self.stats.stored += 1

    async def seed(
        self, history: BillingSource, meters: Sequence[str], start: datetime, end: datetime
    ) -> None:
        """Periods already stored are not pulled again after a restart."""
        for item in self.items:
            try:
                points = await frozen_points(history, list(meters), [item.total], start, end)
            except Exception as exc:  # seeding saves requests; without it the pull still works
                log.warning("history pull: cannot read stored %s: %s", item.total, exc)
                continue
            for point in points:
                if point.value is None:
                    continue
                before = point.timestamp.astimezone(self.tz).date() - timedelta(days=1)
                period = month_start(before) if item.monthly else before
                self._have.setdefault((item.name, point.meter), set()).add(period)


def _readings(
    item: HistoryItem,
    meter: TerminalMeterConfig,
    frozen_at: datetime,
    values: Mapping[str, Any],
    first: bool,
) -> list[Reading]:
    quality = Quality.ACTUAL if first else Quality.BACKFILLED
    registers = values.get(item.values) or ()
    tags = meter.tags()
    return [
        Reading.actual(
            meter.id, name, float(value), UNIT, frozen_at, ReadingKind.FROZEN, tags, quality
        )
        for name, value in zip(item.quantities, registers, strict=False)
        if value is not None  # EEH: no data in that register
    ]


def history_pull(master: MasterConfig, tz: ZoneInfo, emit: ReadingsHandler) -> HistoryPull | None:
    """The pull of what ``[master]`` asks for (``daily_reverse``, ``monthly_frozen``,
    ``curves``)."""
    chosen = (DAILY_REVERSE,) * master.daily_reverse + (MONTHLY_FORWARD,) * master.monthly_frozen
    curves = CURVES if master.curves else ()
    return HistoryPull(master, tz, emit, chosen, curves) if chosen or curves else None
