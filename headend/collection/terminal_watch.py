"""What the frozen pull watches besides the values: events, archive, unread meters, status.

``FrozenPull`` calls it around each terminal (``PullWatch``):

- after a login: the events the terminal logged while we were not listening
  (``TerminalEvents.catch_up``), and the archive differences the pull found, as alarms
  (``archive_difference``, one per pn, closed when the archive agrees again);
- before a pass: each meter without a frozen value for ``[master] unread_days`` days in a row
  is an alarm (``meter_unread``), closed by its next value. Judged before the pass, on what
  earlier passes stored: the values of the pass itself are still on their way to storage
  after it, and a meter must not be called unread because the writer has not flushed yet;
- after a login too: its heartbeat period and master address (AFN 0A F1/F3,
  ``terminal_parameters``), a heartbeat the fleet file disagrees with as an alarm;
- after a pass: the terminal's own reading status (AFN 0C F11) per port, shown by
  ``GET /api/terminals`` next to the pull's completeness, so an operator sees whether the
  terminal failed to read a meter or the master failed to get the value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from headend.anomaly.alarms import AlarmBook
from headend.anomaly.events import SubjectKind
from headend.clock import Clock
from headend.collection.terminal_events import RecordEvents, TerminalEvents
from headend.collection.terminal_parameters import TerminalParameters, read_parameters
from headend.collection.terminal_pull import FrozenPull
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline, TerminalSession
from storage.records import EventRecord, Severity

log = logging.getLogger(__name__)

READING_STATUS = 11
"""AFN 0C F11: the terminal's reading status per port (终端集中抄表状态信息)."""


@dataclass(frozen=True, slots=True)
class PortStatus:
    port: int
    meters: int
    read_ok: int
    key_read_ok: int
    status: int
    """D0 reading now, D1 the round of the period finished (the terminal's bits)."""
    started: datetime | None
    finished: datetime | None
    """The round's start and end, the terminal's wall clock."""


@dataclass(frozen=True, slots=True)
class ReadingStatus:
    asked_at: datetime
    ports: tuple[PortStatus, ...]


@dataclass(slots=True)
class TerminalWatch:
    events: TerminalEvents
    alarms: AlarmBook
    master: MasterConfig
    tz: ZoneInfo
    clock: Clock
    record_events: RecordEvents
    reading_status: dict[str, ReadingStatus] = field(default_factory=dict)
    """Terminal name -> its last AFN 0C F11 answer."""
    unread: dict[str, set[str]] = field(default_factory=dict)
    """Terminal name -> meters with an open ``meter_unread`` alarm."""
    parameters: dict[str, TerminalParameters] = field(default_factory=dict)
    """Terminal name -> its AFN 0A F1/F3 parameters, read back at its last login."""
    _parameters_open: set[str] = field(default_factory=set)
    _archive_open: dict[str, set[str]] = field(default_factory=dict)
    _passes: dict[str, int] = field(default_factory=dict)

    async def after_login(
        self, pull: FrozenPull, session: TerminalSession, terminal: ConcentratorConfig
    ) -> None:
        self._archive_alarms(pull, terminal)
        await self.events.catch_up(session, terminal)
        await self._check_parameters(session, terminal)

    async def _check_parameters(
        self, session: TerminalSession, terminal: ConcentratorConfig
    ) -> None:
        """AFN 0A F1/F3 read back (``terminal_parameters``); a failure is logged only."""
        now = self.clock.now()
        try:
            read = await read_parameters(session, self.master, now)
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            log.warning("terminal %s: parameters (0A F1/F3) not read: %s", terminal.name, exc)
            return
        if read is None:
            return
        self.parameters[terminal.name] = read
        problem = read.problem(terminal)
        was = terminal.name in self._parameters_open
        if problem is not None and not was:
            log.warning("%s", problem)
            self._parameters_open.add(terminal.name)
            self.record_events([self._terminal_alarm(terminal, True, now, problem)])
        elif problem is None and was:
            self._parameters_open.discard(terminal.name)
            agrees = f"terminal {terminal.name}'s heartbeat agrees with the fleet file again"
            self.record_events([self._terminal_alarm(terminal, False, now, agrees)])

    def _terminal_alarm(
        self, terminal: ConcentratorConfig, active: bool, at: datetime, detail: str
    ) -> EventRecord:
        tags = {"terminal": terminal.name}
        if terminal.transformer:
            tags["transformer"] = terminal.transformer
        return self.alarms.meter_event(
            terminal.name,
            "terminal_parameters",
            active=active,
            at=at,
            detail=detail,
            severity=Severity.WARNING,
            tags=tags,
            subject_kind=SubjectKind.TERMINAL,
        )

    def before_pass(self, pull: FrozenPull, terminal: ConcentratorConfig, today: date) -> None:
        if self._passes.get(terminal.name, 0) == 0:
            return  # nothing stored by a pass yet: the first one has not finished
        self._unread_alarms(pull, terminal, today)

    async def after_pass(
        self, pull: FrozenPull, session: TerminalSession, terminal: ConcentratorConfig
    ) -> None:
        self._passes[terminal.name] = self._passes.get(terminal.name, 0) + 1
        try:
            reply = await session.request(
                0x0C,
                [(0, READING_STATUS, {})],
                reply_timeout=self.master.reply_timeout,
                retries=self.master.retries,
            )
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            log.warning("terminal %s: reading status (0C F11) not read: %s", terminal.name, exc)
            return
        if reply.denied:
            return
        ports = tuple(
            _port(row)
            for unit in reply.units
            if unit.item == READING_STATUS and unit.decoded
            for row in unit.values.get("ports", ())
        )
        self.reading_status[terminal.name] = ReadingStatus(self.clock.now(), ports)

    # ------------------------------------------------------------------ alarms

    def _archive_alarms(self, pull: FrozenPull, terminal: ConcentratorConfig) -> None:
        """Each pn whose archive record differs is an alarm until a login finds it agreeing."""
        now = self.clock.now()
        differences = {d.meter: d for d in pull.archive.get(terminal.name, ())}
        was = self._archive_open.setdefault(terminal.name, set())
        records: list[EventRecord] = []
        meters = {m.id: m for m in terminal.meters}
        for meter_id in sorted(was - set(differences)):
            agrees = "the terminal's archive agrees with the fleet again"
            records.append(
                self._meter_alarm(meter_id, "archive_difference", False, now, agrees, meters)
            )
        for meter_id, difference in sorted(differences.items()):
            if meter_id not in was:
                records.append(
                    self._meter_alarm(
                        meter_id, "archive_difference", True, now, str(difference), meters
                    )
                )
        self._archive_open[terminal.name] = set(differences)
        if records:
            self.record_events(records)

    def _unread_alarms(self, pull: FrozenPull, terminal: ConcentratorConfig, today: date) -> None:
        """A meter without a value for ``unread_days`` days up to yesterday is an alarm."""
        limit = self.master.unread_days
        yesterday = today - timedelta(days=1)
        was = self.unread.setdefault(terminal.name, set())
        now = self.clock.now()
        meters = {m.id: m for m in terminal.meters}
        records: list[EventRecord] = []
        for meter in terminal.meters:
            latest = pull.latest_day(meter.id)
            days = terminal.keeps_days if latest is None else (yesterday - latest).days
            if days >= limit and meter.id not in was:
                since = "none of the days it keeps" if latest is None else f"nothing after {latest}"
                detail = (
                    f"terminal {terminal.name} pn {meter.pn} (meter {meter.id}): no frozen value "
                    f"for {days} day(s), {since} (unread_days {limit})"
                )
                was.add(meter.id)
                records.append(
                    self._meter_alarm(meter.id, "meter_unread", True, now, detail, meters)
                )
            elif days < limit and meter.id in was:
                was.discard(meter.id)
                detail = f"meter {meter.id}: frozen value of {latest} stored"
                records.append(
                    self._meter_alarm(meter.id, "meter_unread", False, now, detail, meters)
                )
        if records:
            self.record_events(records)

    def _meter_alarm(
        self,
        meter_id: str,
        kind: str,
        active: bool,
        at: datetime,
        detail: str,
        meters: dict[str, TerminalMeterConfig],
    ) -> EventRecord:
        meter = meters.get(meter_id)
        return self.alarms.meter_event(
            meter_id,
            kind,
            active=active,
            at=at,
            detail=detail,
            severity=Severity.WARNING,
            tags=meter.tags() if meter is not None else {},
        )


def _port(row: dict[str, Any]) -> PortStatus:
    return PortStatus(
        port=int(row.get("port", 0)),
        meters=int(row.get("meters", 0)),
        read_ok=int(row.get("read_ok", 0)),
        key_read_ok=int(row.get("key_read_ok", 0)),
        status=int(row.get("status", 0)),
        started=_wall(row.get("started")),
        finished=_wall(row.get("finished")),
    )


def _wall(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
