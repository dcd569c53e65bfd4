"""The daily frozen pull from concentrators: each day's F161 of every meter, and 补抄 of the rest.

A concentrator freezes its meters' forward active energy (total and per tariff) at the end of
each day and keeps it for ``keeps_days``; the master asks for it by date (AFN 0D F161, Td_d).
After each login the terminal's meter archive is read back and compared with the fleet
(``terminal_archive``). After the freeze (``pull_delay`` past local midnight) a pass asks each
logged-in terminal for yesterday, for all its meters at once (the reply may come in several
frames); then for every older day of the window still missing for some meter. So one mechanism
covers the daily pull and the re-read of missed days, as ``collection.backfill`` does for
DL/T 645 meters.

Once every terminal of a pass has given its F161 (billing's values first), each is asked for
its daily reverse and monthly freezes and curves (F163, F177, F81/F89/F92: ``terminal_history``).
Readings are stored under the names the DL/T 645 backfill writes (``energy_active_import_total``
and ``_t1`` .. ``_t4``, kind frozen), stamped with the freeze time: the end of day D (local
midnight starting D + 1), the same instant a meter's own day freeze of D + 1 carries, so
billing shows one value per day whichever way it came. Yesterday's value got on the first
attempt is ``actual``; anything that arrives later is ``backfilled``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from headend.collection.collector import ReadingsHandler
from headend.collection.terminal_archive import ArchiveDifference, sync_archive
from headend.collection.terminal_history import HISTORY_QUANTITIES, MONTHS_ASKED, HistoryPull
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline, TerminalServer, TerminalSession
from protocols.gdw1376.messages import DataUnit, UnitSpec
from storage.billing import BillingSource, frozen_points
from storage.records import Quality, Reading, ReadingKind

log = logging.getLogger(__name__)

DAILY_FORWARD_ACTIVE = 161
"""AFN 0D F161: daily frozen forward active energy, total and per tariff."""
POINTS_PER_REQUEST = 64
"""Measurement points asked for in one request (8 DA groups)."""
LoginHook = Callable[[TerminalSession, ConcentratorConfig], Awaitable[None]]
TOTAL = "energy_active_import_total"
TARIFF = "energy_active_import_t{}"
UNIT = "kWh"
TARIFFS = 4
FROZEN_PULL_QUANTITIES = (
    TOTAL,
    *(TARIFF.format(n) for n in range(1, TARIFFS + 1)),
    *HISTORY_QUANTITIES,
)
"""What the pull stores for a concentrator meter (the API's quantities of such a meter)."""


@dataclass(slots=True)
class TerminalCompleteness:
    """Meter-days of one terminal's window: how many are stored, and how."""

    terminal: str
    days: int
    meters: int
    first_attempt: int = 0
    """Stored from the pull right after the freeze."""
    backfilled: int = 0
    """Stored later, by a re-read."""

    @property
    def expected(self) -> int:
        return self.days * self.meters

    @property
    def missing(self) -> int:
        return self.expected - self.first_attempt - self.backfilled


@dataclass(slots=True)
class PullStats:
    passes: int = 0
    requests: int = 0
    failures: int = 0
    offline: int = 0
    """Terminals skipped in a pass because they were not logged in."""
    stored: int = 0
    archive_checks: int = 0
    archive_differences: int = 0
    archive_pushed: int = 0
    """Meter records written to terminals from the fleet file (AFN 04 F10 confirmed)."""


class PullWatch(Protocol):
    """What else a pass does with each terminal (``terminal_events``: its events, its reading
    status, the meters it has not read for days), kept out of the pull itself."""

    async def after_login(
        self, pull: FrozenPull, session: TerminalSession, terminal: ConcentratorConfig
    ) -> None: ...

    def before_pass(self, pull: FrozenPull, terminal: ConcentratorConfig, today: date) -> None: ...

    async def after_pass(
        self, pull: FrozenPull, session: TerminalSession, terminal: ConcentratorConfig
    ) -> None: ...


@dataclass(slots=True)
class _Found:
    meter: TerminalMeterConfig
    day: date
    first_attempt: bool
    readings: list[Reading]


@dataclass(slots=True)
class FrozenPull:
    server: TerminalServer
    terminals: Mapping[str, ConcentratorConfig]
    master: MasterConfig
    tz: ZoneInfo
    emit: ReadingsHandler
    stats: PullStats = field(default_factory=PullStats)
    _have: dict[str, dict[date, bool]] = field(default_factory=dict)
    """meter id -> stored day -> whether it came on the first attempt."""
    _attempted: dict[str, set[date]] = field(default_factory=dict)
    """Days already asked for once (a later success is a backfill)."""
    archive: dict[str, list[ArchiveDifference]] = field(default_factory=dict)
    """Terminal name -> the differences its archive had at its last login (after a push)."""
    archive_pushed: dict[str, list[int]] = field(default_factory=dict)
    """Terminal name -> the points whose record was written to it at its last login."""
    _reconciled: dict[str, TerminalSession] = field(default_factory=dict)
    """The session each terminal's archive was last read on (a new login reads it again)."""
    last_pull: dict[str, datetime] = field(default_factory=dict)
    """Terminal name -> when a pass last reached it logged in (what ``/api`` shows)."""
    on_login: LoginHook | None = None
    """Run once per new session before its pull: the terminal clock check (the commands
    layer's, given by the engine), so a drifting terminal is set before its freezes are read."""
    _greeted: dict[str, TerminalSession] = field(default_factory=dict)
    """The session ``on_login`` last ran on, per terminal."""
    watch: PullWatch | None = None
    history: HistoryPull | None = None
    """The terminal's other frozen values (F163, F177), asked after each pass's F161."""

    # ------------------------------------------------------------------ passes

    async def run_pass(
        self, now: datetime, terminals: Iterable[ConcentratorConfig] | None = None
    ) -> None:
        """One pull over ``terminals`` (default all); offline ones wait for the next pass."""
        self.stats.passes += 1
        today = now.astimezone(self.tz).date()
        reached: list[ConcentratorConfig] = []
        for terminal in self.terminals.values() if terminals is None else terminals:
            if self.watch is not None:
                self.watch.before_pass(self, terminal, today)
            try:
                if await self.pull_terminal(terminal, today):
                    reached.append(terminal)
                self.last_pull[terminal.name] = now
                if self.watch is not None:
                    session = self.server.session(terminal.address)
                    await self.watch.after_pass(self, session, terminal)
            except TerminalOffline:
                self.stats.offline += 1
                log.debug("terminal %s offline: frozen pull waits", terminal.name)
        if self.history is not None:  # after every terminal's F161: billing's values first
            for terminal in reached:
                try:
                    await self.history.pull(self.server.session(terminal.address), terminal, today)
                except TerminalOffline:
                    log.debug("terminal %s offline: its other freezes wait", terminal.name)

    async def run(
        self, now: Callable[[], datetime], real_seconds: Callable[[float], float]
    ) -> None:
        """A pass over every terminal after each freeze and every ``pull_interval``; between
        them, a pass over each terminal that has just logged in (and only those: a login
        storm must not re-pull the whole fleet once per login)."""
        next_full = now()
        newly_online: list[ConcentratorConfig] | None = None
        while True:
            moment = now()
            if newly_online is None or moment >= next_full:
                await self.run_pass(moment)
                done = now()
                wait = min(self.master.pull_interval, self.seconds_to_next_pull(done))
                next_full = done + timedelta(seconds=wait)
            elif newly_online:
                await self.run_pass(moment, newly_online)
            left = (next_full - now()).total_seconds()
            try:
                async with asyncio.timeout(max(real_seconds(left), 0.001)):
                    await self.server.wait_change()
                newly_online = self._newly_online()
            except TimeoutError:
                newly_online = None

    def _newly_online(self) -> list[ConcentratorConfig]:
        """Terminals logged in on a session their archive was not read on yet."""
        sessions = self.server.sessions
        return [
            terminal
            for terminal in self.terminals.values()
            if terminal.address in sessions
            and sessions[terminal.address] is not self._reconciled.get(terminal.name)
        ]

    def seconds_to_next_pull(self, moment: datetime) -> float:
        """Seconds to the next ``pull_delay`` after a local midnight (today's or tomorrow's)."""
        local = moment.astimezone(self.tz)
        delay = timedelta(seconds=self.master.pull_delay)
        today = datetime.combine(local.date(), time(), self.tz) + delay
        due = today if today > local else today + timedelta(days=1)
        return (due - local).total_seconds()

    async def pull_terminal(self, terminal: ConcentratorConfig, today: date) -> bool:
        """Yesterday first, then each older day of the window that some meter still lacks;
        False if the terminal stopped answering on the way."""
        session = self.server.session(terminal.address)
        if self.on_login is not None and self._greeted.get(terminal.name) is not session:
            self._greeted[terminal.name] = session
            await self.on_login(session, terminal)
        if self._reconciled.get(terminal.name) is not session:
            await self._reconcile(session, terminal)
            if self.watch is not None:
                await self.watch.after_login(self, session, terminal)
        for offset in range(1, terminal.keeps_days + 1):
            day = today - timedelta(days=offset)
            lacking = [m for m in terminal.meters if day not in self._have.get(m.id, {})]
            chunks = [
                lacking[at : at + POINTS_PER_REQUEST]
                for at in range(0, len(lacking), POINTS_PER_REQUEST)
            ]
            if chunks and not await self._pull_day(session, terminal, chunks, day, today):
                return False  # it stopped answering: the next pass goes on
        return True

    async def _pull_day(
        self,
        session: TerminalSession,
        terminal: ConcentratorConfig,
        chunks: Sequence[Sequence[TerminalMeterConfig]],
        day: date,
        today: date,
    ) -> bool:
        """Every chunk of one day; up to ``window`` requests in flight (the session's
        semaphore bounds them). False if a request failed (the terminal stopped answering)."""
        if self.master.window == 1 or len(chunks) == 1:
            for chunk in chunks:
                if not await self._pull_chunk(session, terminal, chunk, day, today):
                    return False
            return True
        outcomes: list[bool] = []
        offline: list[TerminalOffline] = []

        async def one(chunk: Sequence[TerminalMeterConfig]) -> None:
            try:
                outcomes.append(await self._pull_chunk(session, terminal, chunk, day, today))
            except TerminalOffline as exc:  # the others fail the same way at once
                offline.append(exc)

        async with asyncio.TaskGroup() as group:
            for chunk in chunks:
                group.create_task(one(chunk))
        if offline:
            raise offline[0]
        return all(outcomes)

    async def _pull_chunk(
        self,
        session: TerminalSession,
        terminal: ConcentratorConfig,
        chunk: Sequence[TerminalMeterConfig],
        day: date,
        today: date,
    ) -> bool:
        td_d = {"td_d": day}  # one mapping for every point: the request encodes it once
        specs: list[UnitSpec] = [(m.pn, DAILY_FORWARD_ACTIVE, td_d) for m in chunk]
        self.stats.requests += 1
        try:
            reply = await session.request(
                0x0D,
                specs,
                reply_timeout=self.master.reply_timeout,
                retries=self.master.retries,
            )
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            self.stats.failures += 1
            self._attempt(chunk, day)
            log.warning("terminal %s: daily frozen %s not pulled: %s", terminal.name, day, exc)
            return False
        found = [] if reply.denied else self._found(chunk, day, today, reply.units)
        self._attempt(chunk, day)
        if found:
            readings = [r for item in found for r in item.readings]
            await self.emit(readings, then=partial(self._stored, found))
        return True

    async def _reconcile(self, session: TerminalSession, terminal: ConcentratorConfig) -> None:
        try:
            sync = await sync_archive(session, terminal, self.master)
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            log.warning("terminal %s: archive not read back: %s", terminal.name, exc)
            return  # asked again on the next pass
        self.stats.archive_checks += 1
        self.stats.archive_differences += len(sync.found)
        self.stats.archive_pushed += len(sync.pushed)
        self.archive[terminal.name] = sync.remaining
        self.archive_pushed[terminal.name] = sync.pushed
        self._reconciled[terminal.name] = session
        still = {d.pn for d in sync.remaining}
        for difference in sync.found:
            fixed = difference.pn in sync.pushed and difference.pn not in still
            log.warning("archive difference%s: %s", " (rewritten)" if fixed else "", difference)

    def _attempt(self, meters: Iterable[TerminalMeterConfig], day: date) -> None:
        for meter in meters:
            self._attempted.setdefault(meter.id, set()).add(day)

    def _found(
        self,
        meters: Sequence[TerminalMeterConfig],
        day: date,
        today: date,
        units: Sequence[DataUnit],
    ) -> list[_Found]:
        by_point = {m.pn: m for m in meters}
        # One freeze time and one first-attempt test per day, not per meter: this loop builds
        # five readings of every meter of a terminal's day.
        frozen_at = datetime.combine(day + timedelta(days=1), time(), self.tz).astimezone(UTC)
        yesterday = day == today - timedelta(days=1)
        found: list[_Found] = []
        for unit in units:
            meter = by_point.pop(unit.point, None)
            if meter is None or unit.item != DAILY_FORWARD_ACTIVE:
                continue
            if unit.values.get("td_d") != day:
                log.warning(
                    "terminal %s pn %d: asked for %s, got %s",
                    meter.terminal,
                    unit.point,
                    day,
                    unit.values.get("td_d"),
                )
                continue
            first = yesterday and day not in self._attempted.get(meter.id, ())
            readings = _readings(meter, frozen_at, unit.values, first)
            if readings:
                found.append(_Found(meter, day, first, readings))
        return found

    def _stored(self, found: list[_Found], stored: bool) -> None:
        if not stored:
            return  # the writer dropped them: asked for again next pass
        for item in found:
            self._have.setdefault(item.meter.id, {})[item.day] = item.first_attempt
            self.stats.stored += 1

    # ------------------------------------------------------------- completeness

    def mark_collected(self, meter_id: str, day: date) -> None:
        """A day already stored (counted as backfilled: how it came is not stored)."""
        self._have.setdefault(meter_id, {}).setdefault(day, False)

    async def seed(self, history: BillingSource, now: datetime) -> None:
        """Days already stored are not pulled again after a restart."""
        meters = [m.id for t in self.terminals.values() for m in t.meters]
        if not meters:
            return
        window = max(t.keeps_days for t in self.terminals.values()) + 1
        window_days = timedelta(days=window)
        try:
            points = await frozen_points(
                history, meters, [TOTAL], now - window_days, now + timedelta(days=1)
            )
        except Exception as exc:  # seeding saves requests; without it the pull still works
            log.warning("frozen pull: cannot read stored frozen values: %s", exc)
            return
        for point in points:
            if point.value is not None:  # frozen at the end of the day before its timestamp
                day = point.timestamp.astimezone(self.tz).date() - timedelta(days=1)
                self.mark_collected(point.meter, day)
        if self.history is not None:
            months = timedelta(days=31 * (MONTHS_ASKED + 1))
            await self.history.seed(
                history, meters, now - max(months, window_days), now + timedelta(days=1)
            )

    def latest_day(self, meter_id: str) -> date | None:
        """The last day of the meter's frozen values stored (None before the first)."""
        days = self._have.get(meter_id)
        return max(days) if days else None

    def completeness(self, today: date) -> dict[str, TerminalCompleteness]:
        """Per terminal, over the days it keeps before ``today``."""
        out: dict[str, TerminalCompleteness] = {}
        for terminal in self.terminals.values():
            first_day = today - timedelta(days=terminal.keeps_days)
            summary = TerminalCompleteness(terminal.name, terminal.keeps_days, len(terminal.meters))
            for meter in terminal.meters:
                for day, first in self._have.get(meter.id, {}).items():
                    if first_day <= day < today:
                        if first:
                            summary.first_attempt += 1
                        else:
                            summary.backfilled += 1
            out[terminal.name] = summary
        return out


_NAMES = (TOTAL, *(TARIFF.format(n) for n in range(1, 64)))
"""Register names in F161's order: the total, then tariffs 1 .. M (made once, not per meter)."""


def _readings(
    meter: TerminalMeterConfig, frozen_at: datetime, values: Mapping[str, Any], first: bool
) -> list[Reading]:
    quality = Quality.ACTUAL if first else Quality.BACKFILLED
    energies = values.get("forward_active") or ()
    names = _NAMES if len(energies) <= len(_NAMES) else _names(len(energies))
    tags = meter.tags()  # once per meter: the same labels on each of its readings
    actual = Reading.actual  # the values are the codec's checked numbers, the time aware
    frozen = ReadingKind.FROZEN
    return [
        actual(meter.id, name, float(value), UNIT, frozen_at, frozen, tags, quality)
        for name, value in zip(names, energies, strict=False)
        if value is not None  # EEH: the meter's register had no data
    ]


def _names(count: int) -> tuple[str, ...]:
    return (TOTAL, *(TARIFF.format(n) for n in range(1, count)))
