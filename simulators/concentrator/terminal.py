"""The concentrator's TCP side: it dials the master, logs in, heartbeats and answers.

It is the terminal end of the same codec the master uses. One connection at a time: login
(AFN 02 F1) and wait for the confirm, then heartbeat every ``heartbeat_period`` while
answering the master's requests; when the connection drops (or a fault drops it) it dials
again after ``reconnect_delay``. Answers: AFN 0C F2 its clock, 0D F161 the stored day per pn
(points without a record are left out; none at all is a denial, AFN 00 F2), 0A F10 its meter
archive, and takes AFN 04 F10 archive writes (confirmed, AFN 00 F1) and AFN 05 F31 clock sets
and F49-F51 port commands (``control.py``). AFN 10 F1 hands the
forwarded DL/T 645 frame to ``forward_to`` (the simulated meter behind the port) and returns its
reply; a meter that does not answer gives the spec's empty answer (forwarded length 0).
Its event log (``events``): AFN 0E F1/F2 read by pointer range, important events pushed with
CON and pushed again every ``push_retry`` until confirmed, EC (and ACD) on its frames once it
has logged any; AFN 0C F11 is its reading status (``status``).
Replies with more units than ``units_per_frame`` go as several frames (FIR ... FIN, RSEQ
counting up from the request's PSEQ). Anything else is denied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from protocols.gdw1376 import (
    Address,
    Control,
    DataUnit,
    Frame,
    FrameDecoder,
    MalformedFrame,
    Seq,
    UnexpectedMessage,
    build_body,
    encode,
    link_test,
    parse_units,
)
from protocols.gdw1376.control import PrimaryFunction, SecondaryFunction
from protocols.gdw1376.messages import UnitSpec
from simulators.concentrator.control import TerminalControl
from simulators.concentrator.events import EventLog, TerminalLogRecord, read_failure
from simulators.concentrator.status import reading_status
from simulators.concentrator.store import FrozenStore

log = logging.getLogger(__name__)

SEQ_MODULO = 16


CURVES = {81: "power_active_total", 89: "voltage_a", 92: "current_a"}
"""The curves (AFN 0D Fn) the simulated terminal keeps, and the quantity of each."""
CURVE_STEPS = {1: timedelta(minutes=15), 2: timedelta(minutes=30), 3: timedelta(minutes=60)}
"""Td_c density codes and their steps (appendix: 1 = 15 min, 2 = 30 min, 3 = 60 min)."""


@dataclass(slots=True)
class ConcentratorFaults:
    drop_after_requests: int | None = None
    """Close the connection after answering this many requests (once), then redial."""
    silent: bool = False
    """Log in but answer no request (a hung terminal)."""
    archive: dict[int, str | None] = field(default_factory=dict)
    """pn -> the meter address its archive holds instead of the real one (None: no record),
    an archive that disagrees with the master's fleet."""
    refuse_archive: bool = False
    """Deny the master's archive writes (AFN 04 F10): a terminal locked by its local setup."""
    late_days: dict[date, int] = field(default_factory=dict)
    """Day -> how many requests for it find no record yet (its carrier read failed at first
    and succeeds on the concentrator's own re-read later): the master's 补抄 must ask again."""
    configured_heartbeat_minutes: int | None = None
    """What its AFN 0A F1 says its heartbeat period is, when set on site to something other
    than the period it really keeps (the master compares it with the fleet file)."""
    refuse_control: bool = False
    """Deny every AFN 05 command (clock set, port pause/resume/re-read)."""
    events: list[TerminalLogRecord] = field(default_factory=list)
    """Events in its log from the start (a power off/on, a meter fault ...): pushed at login."""
    lose_confirms: int = 0
    """Confirms of its pushes it does not see (lost on the way): it pushes those again."""


class SimulatedConcentrator:
    def __init__(
        self,
        address: Address,
        store: FrozenStore,
        clock: Callable[[], datetime],
        *,
        heartbeat_period: float = 60.0,
        reconnect_delay: float = 1.0,
        units_per_frame: int = 8,
        reply_delay: float = 0.0,
        faults: ConcentratorFaults | None = None,
        forward_to: Callable[[bytes], bytes | None] | None = None,
        push_retry: float = 5.0,
    ) -> None:
        self.address = address.with_master(0)
        self.store = store
        self.clock = clock
        """The true wall clock (naive local time, as 1376.1 carries it); the terminal's own
        clock is ``now()``, off by ``control.drift``."""
        self.control = TerminalControl()
        """Its clock drift and port states, as AFN 05 commands left them."""
        self.on_command: Callable[[str], None] = lambda what: None
        """Told what each AFN 05 command did (``headend simulate`` prints it: ground truth a
        system test waits for)."""
        self.heartbeat_period = heartbeat_period
        self.reconnect_delay = reconnect_delay
        self.units_per_frame = units_per_frame
        self.reply_delay = reply_delay
        """How long the terminal takes to answer a request (its own meter store lookup); with
        it, requests the master pipelines are seen waiting side by side."""
        self.in_flight = 0
        """Requests received and not answered yet."""
        self.max_in_flight = 0
        """The most requests seen waiting at once: above 1, the master pipelines."""
        self.faults = faults or ConcentratorFaults()
        self.forward_to = forward_to
        """The meters behind the ports: a DL/T 645 frame in, the meter's reply out (None: no
        meter answered); without it AFN 10 F1 is denied."""
        self.events = EventLog()
        for event in self.faults.events:
            self.events.log(event)
        self.push_retry = push_retry
        """Seconds an important event's push waits for the master's confirm before it goes
        again."""
        self.pushes_sent = 0
        self._pushed: dict[int, int] = {}
        """SEQ of a push in flight -> its record number."""
        self._push_wanted = asyncio.Event()
        self.pushes_confirmed = asyncio.Event()
        """Set while every important event logged has been confirmed by the master."""
        if not self.events.unconfirmed:
            self.pushes_confirmed.set()
        self._failures_logged: set[int] = set()
        self.connections = 0
        self.logins_confirmed = 0
        self.requests_answered = 0
        self.skipped = 0
        self.logged_in = asyncio.Event()
        self._seq = 0
        self._writer: asyncio.StreamWriter | None = None
        self._dialled = ("0.0.0.0", 0)
        """The master it dials: what its AFN 0A F3 master address says."""
        self._group: asyncio.TaskGroup | None = None

    def now(self) -> datetime:
        """The terminal's own clock (what AFN 0C F2 shows): the true time plus its drift."""
        return self.control.now(self.clock())

    # ---------------------------------------------------------------- the link

    async def run(self, host: str, port: int) -> None:
        """Dial, serve, redial, until cancelled."""
        self._dialled = (host, port)
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                log.info("concentrator %s: cannot reach %s:%d: %s", self.address, host, port, exc)
            else:
                self.connections += 1
                try:
                    await self._serve(reader, writer)
                except* (ConnectionError, OSError) as lost:  # raised inside _serve's TaskGroup
                    log.info(
                        "concentrator %s: connection lost: %s", self.address, lost.exceptions[0]
                    )
                finally:
                    self.logged_in.clear()
                    self._writer = None
                    writer.close()
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Python 3.11's TaskGroup drops our cancellation when a child fails at the
                    # same moment (the master closing the socket as it stops): redialling then
                    # would keep whoever cancelled us waiting for ever.
                    raise asyncio.CancelledError
            await asyncio.sleep(self.reconnect_delay)  # a real terminal's redial interval

    def drop_connection(self) -> None:
        """Fault: close the current connection now (the terminal redials)."""
        if self._writer is not None:
            self._writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.in_flight = 0  # replies of the last connection are lost with it
        self._log_read_failures()
        ec = None if self.events.empty else self.events.counter()
        writer.write(encode(link_test(self.address, 1, seq=self._next_seq(), ec=ec)))
        decoder = FrameDecoder()
        async with asyncio.TaskGroup() as group:
            beats = group.create_task(self._heartbeats(writer))
            pushes = group.create_task(self._pushes(writer))
            self._group = group
            try:
                while data := await reader.read(4096):
                    decoder.feed(data)
                    while (frame := self._next_frame(decoder)) is not None:
                        if not self._handle(frame, writer):
                            return
                    await writer.drain()
            finally:
                beats.cancel()
                pushes.cancel()

    def _next_frame(self, decoder: FrameDecoder) -> Frame | None:
        while True:
            try:
                return decoder.next_frame()
            except MalformedFrame:
                self.skipped += 1

    async def _heartbeats(self, writer: asyncio.StreamWriter) -> None:
        await self.logged_in.wait()
        while True:
            await asyncio.sleep(self.heartbeat_period)  # the terminal's own period
            writer.write(encode(link_test(self.address, 3, seq=self._next_seq())))

    def _next_seq(self) -> int:
        seq, self._seq = self._seq, (self._seq + 1) % SEQ_MODULO
        self._pushed.pop(seq, None)  # an unconfirmed push with this SEQ is sent anew
        return seq

    # ------------------------------------------------------------------ events

    def log_event(self, event: TerminalLogRecord) -> None:
        """Log an event now; an important one is pushed at once if logged in."""
        self.events.log(event)
        if self.events.unconfirmed:
            self.pushes_confirmed.clear()
        self._push_wanted.set()

    def _log_read_failures(self) -> None:
        """ERC 31 for each ``unreachable`` point, once: its reading round failed on them."""
        now = self.clock().replace(microsecond=0)
        for point in sorted(self.store.unreachable - self._failures_logged):
            self._failures_logged.add(point)
            self.events.log(read_failure(point, now, now - timedelta(days=1), 0.0))
            self.pushes_confirmed.clear()

    async def _pushes(self, writer: asyncio.StreamWriter) -> None:
        """Push every unconfirmed important record; again after ``push_retry`` until confirmed."""
        await self.logged_in.wait()
        while True:
            self._push_wanted.clear()
            for number in list(self.events.unconfirmed):
                seq = self._next_seq()
                self._pushed[seq] = number
                writer.write(encode(self._push(number, seq)))
                self.pushes_sent += 1
            try:
                async with asyncio.timeout(self.push_retry):  # the terminal's resend period
                    await self._push_wanted.wait()
            except TimeoutError:
                pass

    def _push(self, number: int, seq: int) -> Frame:
        return Frame(
            Control(up=True, primary=True, function=PrimaryFunction.USER_DATA, fcb_acd=True),
            self.address,
            0x0E,
            Seq(seq, confirm=True),
            build_body(0x0E, True, [self.events.push_unit(number)]),
            ec=self.events.counter(),
        )

    def _push_confirmed(self, seq: int) -> None:
        number = self._pushed.pop(seq, None)
        if number is None:
            return
        if self.faults.lose_confirms > 0:
            self.faults.lose_confirms -= 1
            return
        self.events.confirmed(number)
        if not self.events.unconfirmed:
            self.pushes_confirmed.set()

    # ----------------------------------------------------------- the master's frames

    def _handle(self, frame: Frame, writer: asyncio.StreamWriter) -> bool:
        """Answer one frame from the master; False ends the connection (a drop fault)."""
        if frame.control.up or frame.address.terminal != self.address.terminal:
            self.skipped += 1
            return True
        if frame.afn == 0x00 and not frame.control.primary:
            if not self.logged_in.is_set():
                self.logins_confirmed += 1
                self.logged_in.set()
            else:
                self._push_confirmed(frame.seq.number)
            return True
        if self.faults.silent:
            return True
        try:
            units = parse_units(frame)
        except UnexpectedMessage:
            self.skipped += 1
            return True
        replies = self._answer(frame, units)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.reply_delay > 0 and self._group is not None:
            self._group.create_task(self._answer_later(writer, replies))
            return True
        self._send(writer, replies)
        self.requests_answered += 1
        drop_after = self.faults.drop_after_requests
        if drop_after is not None and self.requests_answered >= drop_after:
            self.faults.drop_after_requests = None
            log.info("concentrator %s: fault: dropping the connection", self.address)
            return False
        return True

    async def _answer_later(self, writer: asyncio.StreamWriter, replies: list[Frame]) -> None:
        await asyncio.sleep(self.reply_delay)  # the terminal's own answering time
        self._send(writer, replies)
        self.requests_answered += 1

    def _send(self, writer: asyncio.StreamWriter, replies: list[Frame]) -> None:
        self.in_flight -= 1
        if not writer.is_closing():
            writer.write(b"".join(encode(reply) for reply in replies))

    def _answer(self, request: Frame, units: Sequence[DataUnit]) -> list[Frame]:
        if request.afn == 0x04:
            return [
                self._frame(request, 0x00, [(0, self._set(units), {})], Seq(request.seq.number))
            ]
        if request.afn == 0x05:
            done = None if self.faults.refuse_control else self.control.apply(units, self.clock())
            for what in done or ():
                self.on_command(what)
            answer = 1 if done is not None else 2  # AFN 00 F1 confirm, F2 deny
            return [self._frame(request, 0x00, [(0, answer, {})], Seq(request.seq.number))]
        if request.afn == 0x0D and self._late(units):
            return [self._frame(request, 0x00, [(0, 2, {})], Seq(request.seq.number))]
        specs: list[UnitSpec] = []
        for unit in units:
            spec = self._unit(request.afn, unit)
            if spec is not None:
                specs.append(spec)
        if not specs:
            return [self._frame(request, 0x00, [(0, 2, {})], Seq(request.seq.number))]
        chunks = [
            specs[at : at + self.units_per_frame]
            for at in range(0, len(specs), self.units_per_frame)
        ]
        return [
            self._frame(
                request,
                request.afn,
                chunk,
                Seq(
                    (request.seq.number + i) % SEQ_MODULO,
                    first=i == 0,
                    last=i == len(chunks) - 1,
                ),
            )
            for i, chunk in enumerate(chunks)
        ]

    def _set(self, units: Sequence[DataUnit]) -> int:
        """AFN 04: F10 archive records replace the archive's (1: confirmed, 2: denied)."""
        if self.faults.refuse_archive or any(unit.item != 10 for unit in units):
            return 2
        real = {meter.point: meter.address for meter in self.store.meters.values()}
        for unit in units:
            for record in unit.values["meters"]:
                point, address = record["point"], record["address"]
                if real.get(point) == address:
                    self.faults.archive.pop(point, None)
                else:
                    self.faults.archive[point] = address
        return 1

    def _late(self, units: Sequence[DataUnit]) -> bool:
        days = {unit.values.get("td_d") for unit in units}
        late = [day for day in days if isinstance(day, date) and self.faults.late_days.get(day)]
        for day in late:
            self.faults.late_days[day] -= 1
        return bool(late)

    def _frame(self, request: Frame, afn: int, specs: list[UnitSpec], seq: Seq) -> Frame:
        function = SecondaryFunction.CONFIRM if afn == 0x00 else SecondaryFunction.USER_DATA
        frame = Frame(
            Control(up=True, primary=False, function=function),
            self.address.with_master(request.address.master),
            afn,
            seq,
            build_body(afn, True, specs),
        )
        if self.events.empty:
            return frame
        acd = replace(frame.control, fcb_acd=True)  # events logged: EC tells the master how many
        return replace(frame, control=acd, ec=self.events.counter())

    def _unit(self, afn: int, unit: DataUnit) -> UnitSpec | None:
        match (afn, unit.item):
            case (0x0C, 2):
                return (0, 2, {"clock": self.now()})
            case (0x0C, 11):
                return reading_status(self.store, self.clock().replace(microsecond=0))
            case (0x0E, 1 | 2):
                return self.events.unit(unit.item, unit.values["pm"], unit.values["pn"])
            case (0x0D, 161 | 163):
                return self._daily(unit.point, unit.item, unit.values["td_d"])
            case (0x0D, 177):
                return self._monthly(unit.point, unit.values["td_m"])
            case (0x0D, fn) if fn in CURVES:
                return self._curve(unit.point, fn, unit.values)
            case (0x0A, 10):
                return (0, 10, self._archive(unit.values["seqs"]))
            case (0x0A, 1):
                return (0, 1, self._uplink())
            case (0x0A, 3):
                host, port = self._dialled
                return (
                    0,
                    3,
                    {
                        "primary_ip": host,
                        "primary_port": port,
                        "backup_ip": "0.0.0.0",
                        "backup_port": 0,
                        "apn": "CMNET",
                    },
                )
            case (0x10, 1) if self.forward_to is not None:
                reply = self.forward_to(bytes(unit.values["frame"])) or b""
                return (0, 1, {"port": unit.values["port"], "length": len(reply), "frame": reply})
        return None

    def _daily(self, point: int, item: int, day: date) -> UnitSpec | None:
        """F161 forward or F163 reverse active energy frozen for ``day``."""
        forward = item == 161
        values = self.store.frozen(point, day) if forward else self.store.frozen_reverse(point, day)
        if values is None:
            return None
        read_time = datetime.combine(day, datetime.min.time()).replace(hour=0, minute=5)
        return (
            point,
            item,
            {
                "td_d": day,
                "read_time": read_time,
                "tariffs": len(values) - 1,
                "forward_active" if forward else "reverse_active": list(values),
            },
        )

    def _curve(self, point: int, fn: int, asked: Mapping[str, Any]) -> UnitSpec | None:
        """F81 / F89 / F92: total power, phase A voltage and current at ``td_c_density``
        steps from ``td_c_start`` (the terminal's wall clock)."""
        step = CURVE_STEPS.get(int(asked["td_c_density"]))
        if step is None:
            return None
        start, count = asked["td_c_start"], int(asked["td_c_points"])
        values = self.store.curve(point, CURVES[fn], start, step, count)
        if values is None:
            return None
        return (point, fn, {**asked, "values": values})

    def _monthly(self, point: int, month: date) -> UnitSpec | None:
        """F177: forward active energy frozen at the end of ``month``."""
        values = self.store.monthly(point, month)
        if values is None:
            return None
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        read_time = datetime.combine(following, datetime.min.time()).replace(minute=5)
        return (
            point,
            177,
            {
                "td_m": month,
                "read_time": read_time,
                "tariffs": len(values) - 1,
                "forward_active": list(values),
            },
        )

    def _uplink(self) -> dict[str, Any]:
        """AFN 0A F1 as configured on site: ``configured_heartbeat_minutes`` (a fault) or its
        real period."""
        minutes = self.faults.configured_heartbeat_minutes
        if minutes is None:
            minutes = max(1, round(self.heartbeat_period / 60))
        return {
            "rts_20ms": 0,
            "master_delay_minutes": 0,
            "timeout_and_retries": 0x3000 | 30,
            "confirm_flags": 0b1,
            "heartbeat_minutes": minutes,
        }

    def _archive(self, seqs: Sequence[int]) -> dict[str, Any]:
        wanted = set(seqs)
        overrides = self.faults.archive
        records = [
            {
                "seq": meter.point,
                "point": meter.point,
                "baud_and_port": 0x62,
                "protocol": 30,
                "address": overrides.get(meter.point, meter.address),
                "password": "000000000000",
                "tariffs": 4,
                "digits": 0x09,
                "collector": "000000000000",
                "user_class": 0x51,
            }
            for meter in self.store.meters.values()
            if (not wanted or meter.point in wanted)
            and not (meter.point in overrides and overrides[meter.point] is None)
        ]
        return {"count": len(records), "meters": records}
