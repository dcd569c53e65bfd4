"""Concentrator events (AFN 0E) into alarms: pushed ones as they come, missed ones after login.

A concentrator logs what it sees (power off/on, a meter fault, a register going backwards, a
meter it cannot read, a meter on its port that is not in its archive) as numbered ERC records,
pushes the important ones and counts them all in EC. The master turns each record into an
alarm the operator sees (``AlarmBook``, ``GET /api/alarms``) naming the terminal, the pn and
meter, and the ERC. A push that reached us while its confirm got lost comes again: the session
already drops exact repeats, and this module drops a record it has turned into an alarm
before (same terminal and content), so a repeat, or a record pushed and then read, raises one
alarm. After each login it compares the terminal's EC with how far it has read each ring and
reads the rest (F1 important, F2 normal) once. A record it cannot decode (``problem``) or an
ERC it has no alarm for is counted, logged and skipped: the session goes on.

How far each ring was read is an ``EventPointers`` (kept in the data dir across restarts);
a pointer moves once the alarms of the records it passes are stored, over a read after login
or over a push that continues where it stands (a push carries its Pm..Pn), so a restart
neither reads a record again nor skips one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from headend.anomaly.alarms import AlarmBook
from headend.clock import Clock
from headend.collection.event_pointers import EventPointers
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline, TerminalSession
from protocols.gdw1376.aux import EventCounter
from protocols.gdw1376.master_session import Report, TerminalReply
from storage.records import EventRecord, Severity

log = logging.getLogger(__name__)

RecordEvents = Callable[[list[EventRecord]], None]
StoreEvents = Callable[[list[EventRecord], Callable[[bool], None]], None]
"""Store these events, then say whether they were stored (``LiveReadings.record_events``)."""

EVENTS_AFN = 0x0E
RINGS = {1: "important", 2: "normal"}
"""AFN 0E Fn -> the terminal's ring it reads (EC1, EC2)."""
RING = 256
REMEMBERED = 4096
"""Records remembered per head-end to recognise one seen before (pushed, then read)."""


@dataclass(frozen=True, slots=True)
class ErcAlarm:
    kind: str
    severity: Severity
    per_point: bool
    """The record names a pn (D11..D0 of its point flags)."""


ERC_ALARMS: Mapping[int, ErcAlarm] = {
    13: ErcAlarm("meter_fault", Severity.WARNING, True),
    14: ErcAlarm("terminal_power_off", Severity.WARNING, False),
    21: ErcAlarm("terminal_fault", Severity.WARNING, False),
    27: ErcAlarm("register_decrease", Severity.WARNING, True),
    31: ErcAlarm("rs485_read_failure", Severity.WARNING, True),
    35: ErcAlarm("unknown_meter", Severity.INFO, False),
}
"""The ERCs that become alarms (``protocols.gdw1376.events`` decodes these)."""


@dataclass(slots=True)
class EventStats:
    reports: int = 0
    """Pushed AFN 0E frames handed over by the session."""
    reads: int = 0
    """AFN 0E reads of missed records after a login."""
    records: int = 0
    alarms: int = 0
    """Records that raised (or closed) an alarm."""
    repeats: int = 0
    """Records already turned into an alarm (pushed again, or pushed and then read)."""
    bad: int = 0
    """Records the codec could not decode (kept raw with a problem): skipped."""
    unknown: int = 0
    """Records of an ERC with no alarm here: skipped."""


class TerminalEvents:
    def __init__(
        self,
        alarms: AlarmBook,
        terminals: Mapping[str, ConcentratorConfig],
        master: MasterConfig,
        tz: ZoneInfo,
        clock: Clock,
        *,
        record_events: StoreEvents,
        pointers: EventPointers | None = None,
    ) -> None:
        """``pointers``: how far each ring was read, kept across restarts (in memory when
        None)."""
        self._alarms = alarms
        self._by_address = {t.address: t for t in terminals.values()}
        self._master = master
        self._tz = tz
        self._clock = clock
        self._record_events = record_events
        self.pointers = pointers or EventPointers()
        self.stats = EventStats()
        self._seen: set[tuple[str, str]] = set()
        self._seen_order: deque[tuple[str, str]] = deque()

    # ------------------------------------------------------------------ pushed

    def on_report(self, key: str, report: Report) -> None:
        """``TerminalServer.on_report``: a pushed frame of the terminal ``key``."""
        terminal = self._by_address.get(key)
        if report.afn != EVENTS_AFN or terminal is None:
            return
        self.stats.reports += 1
        for unit in report.units:
            if unit.item in RINGS and unit.decoded:
                pm, pn = unit.values.get("pm"), unit.values.get("pn")
                handled = self._handled(terminal, unit.item, pm, pn)
                self.records(terminal, unit.values.get("records", ()), "pushed", handled)

    @property
    def read_up_to(self) -> dict[tuple[str, int], int]:
        """(terminal name, Fn) -> the record number its ring has been read up to."""
        return {
            (self._by_address[key].name, fn): pointer
            for (key, fn), pointer in self.pointers.items().items()
            if key in self._by_address
        }

    def _handled(
        self, terminal: ConcentratorConfig, fn: int, start: object, end: object
    ) -> Callable[[], object] | None:
        """What moves the ring's pointer over records ``start`` .. ``end`` - 1 once they are
        stored (nothing for a unit without its range)."""
        if not isinstance(start, int) or not isinstance(end, int):
            return None
        return partial(self.pointers.advance, terminal.address, fn, start, end)

    # -------------------------------------------------------------- read back

    async def catch_up(self, session: TerminalSession, terminal: ConcentratorConfig) -> None:
        """Read the records of both rings between our pointer and the terminal's EC."""
        try:
            counter = session.event_counter or await self._ask_counter(session)
            for fn, current in ((1, counter.important), (2, counter.normal)):
                start = self.pointers.get(terminal.address, fn)
                if start == current:
                    continue
                reply = await self._read(session, fn, start, current)
                self.stats.reads += 1
                if reply.denied:  # asked again after the next login
                    log.warning("terminal %s: events F%d read denied", terminal.name, fn)
                    continue
                records: list[dict[str, Any]] = []
                for unit in reply.units:
                    if unit.item == fn and unit.decoded:
                        records += unit.values.get("records", ())
                self.records(terminal, records, "read", self._handled(terminal, fn, start, current))
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            log.warning("terminal %s: missed events not read: %s", terminal.name, exc)

    async def _ask_counter(self, session: TerminalSession) -> EventCounter:
        """A terminal that sent no EC: an empty read (Pm = Pn) answers with its counters."""
        reply = await self._read(session, 1, 0, 0)
        for unit in reply.units:
            if unit.item == 1 and unit.decoded:
                return EventCounter(int(unit.values["ec1"]), int(unit.values["ec2"]))
        return EventCounter(0, 0)

    async def _read(self, session: TerminalSession, fn: int, first: int, end: int) -> TerminalReply:
        return await session.request(
            EVENTS_AFN,
            [(0, fn, {"pm": first % RING, "pn": end % RING})],
            reply_timeout=self._master.reply_timeout,
            retries=self._master.retries,
        )

    # ---------------------------------------------------------------- records

    def records(
        self,
        terminal: ConcentratorConfig,
        records: Iterable[dict[str, Any]],
        via: str,
        handled: Callable[[], object] | None = None,
    ) -> None:
        """Turn the records into alarms; ``handled`` runs once those are stored (at once when
        none raised one), not when the writer dropped them: they are read again then."""
        events: list[EventRecord] = []
        raised: list[tuple[str, str]] = []
        for record in records:
            self.stats.records += 1
            events += self._record(terminal, record, via, raised)

        def stored(ok: bool) -> None:
            if not ok:  # not kept: the next read raises them again instead of a repeat
                self._seen.difference_update(raised)
            elif handled is not None:
                handled()

        if events:
            self._record_events(events, stored)
        else:
            stored(True)

    def _record(
        self,
        terminal: ConcentratorConfig,
        record: dict[str, Any],
        via: str,
        raised: list[tuple[str, str]],
    ) -> list[EventRecord]:
        erc = record.get("erc")
        if "problem" in record:
            self.stats.bad += 1
            log.warning(
                "terminal %s: ERC%s record skipped (%s): %s",
                terminal.name,
                erc,
                via,
                record["problem"],
            )
            return []
        alarm = ERC_ALARMS.get(erc) if isinstance(erc, int) else None
        if alarm is None:
            self.stats.unknown += 1
            log.info("terminal %s: ERC%s record (%s) raises no alarm", terminal.name, erc, via)
            return []
        key = (terminal.name, repr(sorted(record.items())))
        if key in self._seen:
            self.stats.repeats += 1
            return []
        self._remember(key)
        raised.append(key)
        self.stats.alarms += 1
        if erc == 14:
            return self._power(terminal, record)
        if alarm.per_point:
            return self._point(terminal, record, alarm)
        return self._terminal(terminal, record, alarm)

    def _remember(self, key: tuple[str, str]) -> None:
        self._seen.add(key)
        self._seen_order.append(key)
        while len(self._seen_order) > REMEMBERED:
            self._seen.discard(self._seen_order.popleft())

    def _power(self, terminal: ConcentratorConfig, record: dict[str, Any]) -> list[EventRecord]:
        """ERC 14: an alarm from power off to power on (closed if the record has both)."""
        off, on = record.get("power_off"), record.get("power_on")
        started = self._utc(off)
        incident = f"terminal_power_off:{terminal.name}:{started.isoformat()}"
        detail = f"terminal {terminal.name}: ERC14 power off at {off}"
        tags = _terminal_tags(terminal)
        out = [
            self._alarms.meter_event(
                terminal.name,
                "terminal_power_off",
                active=True,
                at=started,
                detail=detail,
                severity=Severity.WARNING,
                tags=tags,
                subject_kind="terminal",
                incident=incident,
            )
        ]
        if isinstance(on, datetime):
            out.append(
                self._alarms.meter_event(
                    terminal.name,
                    "terminal_power_off",
                    active=False,
                    at=self._utc(on),
                    detail=f"{detail}, power on at {on}",
                    severity=Severity.WARNING,
                    tags=tags,
                    subject_kind="terminal",
                    incident=incident,
                )
            )
        return out

    def _point(
        self, terminal: ConcentratorConfig, record: dict[str, Any], alarm: ErcAlarm
    ) -> list[EventRecord]:
        """A meter's event: started opens its alarm, ended (D15 = 0) closes it; ERC 27 (a
        register decrease) has no end and stays open."""
        point = int(record.get("point", 0))
        meter = _meter_at(terminal, point)
        subject = meter.id if meter is not None else f"{terminal.name}/pn{point}"
        erc = record["erc"]
        what = f"terminal {terminal.name} pn {point}"
        if meter is not None:
            what += f" (meter {meter.id})"
        detail = f"{what}: ERC{erc} {record.get('event')}{_details(record)}"
        active = bool(record.get("started", True)) or erc == 27
        return [
            self._alarms.meter_event(
                subject,
                alarm.kind,
                active=active,
                at=self._utc(record.get("time")),
                detail=detail if active else f"ended: {detail}",
                severity=alarm.severity,
                tags=meter.tags() if meter is not None else _terminal_tags(terminal),
                subject_kind="meter" if meter is not None else "terminal",
            )
        ]

    def _terminal(
        self, terminal: ConcentratorConfig, record: dict[str, Any], alarm: ErcAlarm
    ) -> list[EventRecord]:
        """ERC 21 (terminal fault) and 35 (unknown meters on a port): open until handled."""
        which = record.get("fault_code")
        if record["erc"] == 35:
            which = ",".join(str(m.get("address")) for m in record.get("meters", ()))
        detail = f"terminal {terminal.name}: ERC{record['erc']} {record.get('event')}"
        return [
            self._alarms.meter_event(
                terminal.name,
                alarm.kind,
                active=True,
                at=self._utc(record.get("time")),
                detail=f"{detail}{_details(record)}",
                severity=alarm.severity,
                tags=_terminal_tags(terminal),
                subject_kind="terminal",
                incident=f"{alarm.kind}:{terminal.name}:{which}",
            )
        ]

    def _utc(self, wall: object) -> datetime:
        """A record's time is the terminal's wall clock; EEH ("no data") is now."""
        if isinstance(wall, datetime):
            return wall.replace(tzinfo=self._tz).astimezone(UTC)
        return self._clock.now()


def _meter_at(terminal: ConcentratorConfig, point: int) -> TerminalMeterConfig | None:
    return next((m for m in terminal.meters if m.pn == point), None)


def _terminal_tags(terminal: ConcentratorConfig) -> dict[str, str]:
    tags = {"terminal": terminal.name}
    if terminal.transformer:
        tags["transformer"] = terminal.transformer
    return tags


_SHOWN = ("energy_before", "energy_after", "last_read", "fault_flags", "port", "meters")


def _details(record: Mapping[str, Any]) -> str:
    parts = [f"{name} {record[name]}" for name in _SHOWN if record.get(name) is not None]
    return f" ({', '.join(parts)})" if parts else ""
