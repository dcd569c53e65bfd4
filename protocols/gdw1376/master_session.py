"""The master station's side of one terminal's TCP session, as a sans-IO state machine.

Bytes from the terminal go in (``receive_data``), events come out (``next_event``), and the
bytes to send back are collected in ``data_to_send()``: the confirms of login, heartbeat and
pushed reports are queued here, so the IO loop around it only moves bytes and keeps time
(like ``protocols.dlt645.exchange`` for a bus). The rules it keeps:

- the first frame must be an AFN 02 F1 login; it names the terminal (``LoggedIn``), and the
  master confirms it (AFN 00 F1). Anything before a login is skipped.
- heartbeats (AFN 02 F3) and logouts (F2) are confirmed too.
- a request gets a PSEQ of its own (``send_request``); the reply frames with that sequence
  number (and, for a multi-frame reply, the numbers following it, FIR on the first, FIN on the
  last) are joined into one ``TerminalReply``. AFN 00 F2 ("all denied") is a ``TerminalReply`` with
  ``denied``. TerminalReply frames nobody waits for are ``Skipped``.
- a pushed report (an uplink primary frame other than AFN 02, with CON) is confirmed; a report
  already seen (same AFN and data, the terminal repeating it because our confirm was lost) is
  confirmed again but not given out twice.
- bytes that are not a 1376.1 frame, bad frames and units that do not fit their AFN are
  ``Skipped`` with the reason: counted by the caller, never fatal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from protocols.gdw1376.address import Address
from protocols.gdw1376.aux import EventCounter
from protocols.gdw1376.decoder import FrameDecoder
from protocols.gdw1376.errors import MalformedFrame, UnexpectedMessage
from protocols.gdw1376.frame import Frame, encode
from protocols.gdw1376.messages import DataUnit, UnitSpec, confirm_all, parse_units, request

SEQ_MODULO: Final = 16
RECENT_REPORTS: Final = 64
"""How many pushed reports are remembered to recognise a repeat."""


class NeedData:
    """Nothing to say until more bytes arrive."""


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True)
class LoggedIn:
    terminal: Address
    """The terminal's address (master field 0: as the terminal sent it)."""
    relogin: bool
    """A login on a session that was already logged in (the terminal restarted its link)."""
    ec: EventCounter | None = None
    """The terminal's event counters when its login carried them (ACD): what the master
    compares with the records it has read to know which it missed."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    terminal: Address
    units: tuple[DataUnit, ...]
    """F3's unit: the terminal's clock under ``clock`` when it sends it."""


@dataclass(frozen=True, slots=True)
class LoggedOut:
    terminal: Address


@dataclass(frozen=True, slots=True)
class TerminalReply:
    seq: int
    """The PSEQ of the request it answers."""
    afn: int
    units: tuple[DataUnit, ...]
    frames: int
    """How many frames it came in (FIR ... FIN)."""
    denied: bool = False
    """AFN 00 F2: the terminal has nothing for what was asked."""
    ec: EventCounter | None = None
    """The event counters of the reply's last frame, when it carried them (ACD)."""


@dataclass(frozen=True, slots=True)
class Report:
    """A frame the terminal pushed (events, AFN 0E), confirmed if it asked."""

    afn: int
    units: tuple[DataUnit, ...]


class SkipReason(StrEnum):
    NOISE = "noise"
    """Bytes that are not a 1376.1 frame (a DTU's registration string, garbage)."""
    MALFORMED = "malformed"
    """A frame with a bad checksum, end byte, length, or units that do not fit."""
    BEFORE_LOGIN = "before_login"
    OTHER_TERMINAL = "other_terminal"
    UNSOLICITED_REPLY = "unsolicited_reply"
    DUPLICATE_REPORT = "duplicate_report"
    DOWNLINK = "downlink"
    """A frame in the master's own direction (an echo, a confused peer)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: SkipReason
    detail: str
    size: int = 0
    """Bytes the decoder threw away for it (noise, and the byte it moves past a bad frame's
    start): over a stream they add up to at most the bytes received."""


Event = LoggedIn | Heartbeat | LoggedOut | TerminalReply | Report | Skipped


@dataclass(slots=True)
class _Pending:
    afn: int
    next_seq: int
    units: list[DataUnit] = field(default_factory=list)
    frames: int = 0
    ec: EventCounter | None = None


class MasterSession:
    """One inbound session: login, link tests, requests by PSEQ, pushed reports."""

    def __init__(self, *, master: int = 1) -> None:
        self.master = master
        self.terminal: Address | None = None
        self._decoder = FrameDecoder()
        self._events: deque[Event] = deque()
        self._outbox = bytearray()
        self._pending: dict[int, _Pending] = {}
        self._next_pseq = 0
        self._recent_reports: deque[tuple[int, bytes]] = deque(maxlen=RECENT_REPORTS)
        self._noise_seen = 0

    @property
    def logged_in(self) -> bool:
        return self.terminal is not None

    @property
    def buffered(self) -> int:
        """Bytes held that may still start a frame (the rest of it not received yet)."""
        return self._decoder.pending

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> None:
        self._decoder.feed(data)

    def next_event(self) -> Event | NeedData:
        while not self._events:
            try:
                frame = self._decoder.next_frame()
            except MalformedFrame as exc:
                # The decoder moved one byte on (and maybe past noise before it): count those,
                # not the whole candidate, whose other bytes may still be a frame.
                return Skipped(SkipReason.MALFORMED, exc.problem, self._newly_discarded())
            noise = self._newly_discarded()
            if noise:
                self._events.append(
                    Skipped(SkipReason.NOISE, f"{noise} byte(s) that are not a 1376.1 frame", noise)
                )
            if frame is None:
                break
            self._handle(frame)
        return self._events.popleft() if self._events else NEED_DATA

    def _newly_discarded(self) -> int:
        new = self._decoder.discarded - self._noise_seen
        self._noise_seen = self._decoder.discarded
        return new

    def _handle(self, frame: Frame) -> None:
        if not frame.control.up:
            self._skip(SkipReason.DOWNLINK, f"downlink AFN {frame.afn:02X}H from the terminal")
            return
        if frame.control.primary and frame.afn == 0x02:
            self._link_test(frame)
            return
        if self.terminal is None:
            self._skip(SkipReason.BEFORE_LOGIN, f"AFN {frame.afn:02X}H before the login")
            return
        if _same_terminal(frame.address, self.terminal) is False:
            self._skip(
                SkipReason.OTHER_TERMINAL,
                f"a frame of terminal {frame.address} on the session of {self.terminal}",
            )
            return
        try:
            units = tuple(parse_units(frame))
        except UnexpectedMessage as exc:
            self._skip(SkipReason.MALFORMED, str(exc))
            return
        if frame.control.primary:
            self._report(frame, units)
        else:
            self._reply(frame, units)

    def _link_test(self, frame: Frame) -> None:
        try:
            units = tuple(parse_units(frame))
        except UnexpectedMessage as exc:
            self._skip(SkipReason.MALFORMED, str(exc))
            return
        items = {unit.item for unit in units}
        terminal = frame.address.with_master(0)
        if 1 in items:
            relogin = self.terminal is not None
            self.terminal = terminal
            self._confirm(frame)
            self._events.append(LoggedIn(terminal, relogin, frame.ec))
            return
        if self.terminal is None or not _same_terminal(terminal, self.terminal):
            self._skip(SkipReason.BEFORE_LOGIN, f"AFN 02H F{sorted(items)} before the login")
            return
        self._confirm(frame)
        if 2 in items:
            self._events.append(LoggedOut(self.terminal))
            self.terminal = None
        elif 3 in items:
            self._events.append(Heartbeat(self.terminal, units))

    def _report(self, frame: Frame, units: tuple[DataUnit, ...]) -> None:
        if frame.seq.confirm:
            self._confirm(frame)
        key = (frame.afn, frame.body)
        if key in self._recent_reports:
            self._skip(SkipReason.DUPLICATE_REPORT, f"AFN {frame.afn:02X}H report sent again")
            return
        self._recent_reports.append(key)
        self._events.append(Report(frame.afn, units))

    def _reply(self, frame: Frame, units: tuple[DataUnit, ...]) -> None:
        number = frame.seq.number
        if frame.seq.first:
            pending = self._pending.get(number)
            if pending is not None and pending.frames:
                pending = None  # a second FIR for a reply under way: not ours
        else:
            pending = next(
                (p for p in self._pending.values() if p.frames and p.next_seq == number), None
            )
        if pending is None:
            self._skip(
                SkipReason.UNSOLICITED_REPLY,
                f"AFN {frame.afn:02X}H reply with SEQ {number} ({frame.seq.position}) that no "
                "request waits for",
            )
            return
        pending.units.extend(units)
        pending.frames += 1
        pending.ec = frame.ec or pending.ec
        pending.next_seq = (number + 1) % SEQ_MODULO
        if not frame.seq.last:
            return
        pseq = next(k for k, v in self._pending.items() if v is pending)
        del self._pending[pseq]
        denied = frame.afn == 0x00 and any(u.point == 0 and u.item == 2 for u in units)
        self._events.append(
            TerminalReply(pseq, frame.afn, tuple(pending.units), pending.frames, denied, pending.ec)
        )

    def _confirm(self, frame: Frame) -> None:
        self._outbox += encode(confirm_all(frame, master=self.master))

    def _skip(self, reason: SkipReason, detail: str) -> None:
        self._events.append(Skipped(reason, detail))

    # ----------------------------------------------------------------- output

    def send_request(self, afn: int, units: Iterable[UnitSpec]) -> tuple[int, bytes]:
        """A request's PSEQ and bytes; its reply comes out of ``next_event`` (``TerminalReply``)."""
        if self.terminal is None:
            raise RuntimeError("no terminal has logged in on this session")
        pseq = self._take_pseq()
        frame = request(self.terminal, afn, units, seq=pseq, master=self.master)
        self._pending[pseq] = _Pending(afn, pseq)
        return pseq, encode(frame)

    def resend(self, pseq: int) -> None:
        """Forget a half-received reply before the same request goes out again."""
        pending = self._pending.get(pseq)
        if pending is not None:
            self._pending[pseq] = _Pending(pending.afn, pseq)

    def abandon(self, pseq: int) -> None:
        """The caller stopped waiting (timeout, retries spent): a late reply is skipped."""
        self._pending.pop(pseq, None)

    def _take_pseq(self) -> int:
        for _ in range(SEQ_MODULO):
            pseq = self._next_pseq
            self._next_pseq = (pseq + 1) % SEQ_MODULO
            if pseq not in self._pending:
                return pseq
        raise RuntimeError(f"{SEQ_MODULO} requests already wait for replies on this session")

    def data_to_send(self) -> bytes:
        """Confirms queued by the frames handled so far (empty if none)."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data


def _same_terminal(a: Address, b: Address) -> bool:
    return a.region.upper() == b.region.upper() and a.terminal == b.terminal
