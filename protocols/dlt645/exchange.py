"""The master side of one DL/T 645 request and its reply, as a sans-IO state machine.

Modelled on h11's ``Connection``: the caller moves bytes and keeps time, the machine keeps the
rules, so the same rules serve a serial port, a DTU socket and a test that feeds bytes by
hand. ``send()`` gives the request's bytes, ``receive_data()`` takes whatever the line
delivered (any chunking), and ``next_event()`` says what that amounts to: ``NEED_DATA``, the
reply, a ``Failed`` with the reason code the head-end stores, or, for a read, the follow-up
frame to send next. The machine has no clock: when the caller's deadline passes it calls
``deadline_passed()`` and gets the failure that fits what was heard.

Frames on a shared bus that are not the reply are skipped, never taken for it:

- our own request echoed back by a 2-wire adapter (direction bit = to the meter);
- a late reply to an earlier request: another function code, or a read reply naming another
  data identifier;
- a reply from another address (a slow neighbour's late reply); if ours never comes, the
  deadline gives ``wrong_address`` (a replaced meter, a mis-wired bus), not ``timeout``.

A malformed frame (bad checksum, end byte, length or address field) fails the exchange with
``checksum`` / ``malformed`` as soon as the bytes already received are used up, because a meter
does not send its reply twice; but those buffered bytes are still searched first, so a garbled
echo or neighbour frame does not hide a good reply right behind it. A read whose reply has the
follow-up bit asks for the rest (后续帧: 2007 function 12 with a sequence counter, replies
92/B2; 1997 function 02) up to ``MAX_FOLLOW_UPS`` times; an error reply to a read is a
``Failed`` carrying the meter's error word. A broadcast gets no reply, so its exchange ends
when it is sent.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Final, Literal

from protocols.dlt645.address import Address
from protocols.dlt645.control import FROM_METER, Control, Function, Standard
from protocols.dlt645.decoder import FrameDecoder
from protocols.dlt645.errors import ChecksumError, MalformedFrame, UnexpectedMessage
from protocols.dlt645.frame import MAX_DATA_LENGTH, START, Frame, encode
from protocols.dlt645.messages import (
    ErrorResponse,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    Response,
    parse_response,
)
from protocols.errors import LocalProtocolError, ProtocolError

MAX_FOLLOW_UPS = 16
"""A reply that still says "more follows" after this many follow-up frames is a meter bug."""

Reason = Literal["timeout", "checksum", "malformed", "error_response", "wrong_address"]
"""Why an exchange failed: the head-end's stored failure reason codes, as plain strings
(protocols import nothing from storage; a test keeps the two in step)."""


class State(enum.Enum):
    """Where an exchange stands: ``IDLE -> AWAITING_REPLY -> DONE | FAILED``, or ``IDLE -> DONE``
    for a broadcast. A read is ``AWAITING_REPLY`` again for each follow-up frame."""

    IDLE = "idle"
    """Built; the request has not been sent, so no byte can belong to it yet."""
    AWAITING_REPLY = "awaiting_reply"
    """Sent; received frames are checked against the request until the reply shows up."""
    DONE = "done"
    """The reply (or, for a broadcast, the sending) ended the exchange."""
    FAILED = "failed"
    """The exchange ended with a ``Failed`` event."""


class Skip(enum.Enum):
    """Why a well-formed frame was not taken for the reply (counted in ``Exchange.skipped``)."""

    ECHO = "echo"
    """Our own request, echoed by a 2-wire adapter."""
    OTHER_FUNCTION = "other_function"
    """A late reply to an earlier request of another kind."""
    OTHER_IDENTIFIER = "other_identifier"
    """A late read reply naming another data identifier."""
    OTHER_ADDRESS = "other_address"
    """A reply from another meter than the one addressed."""


class _NeedData(enum.Enum):
    NEED_DATA = "need_data"


NEED_DATA: Final = _NeedData.NEED_DATA
"""``next_event()``: nothing can be said until more bytes arrive (or the deadline passes)."""
NeedData = Literal[_NeedData.NEED_DATA]


@dataclass(frozen=True, slots=True)
class Reply:
    """The addressed meter's reply, parsed; an ``ErrorResponse`` too (the caller judges it)."""

    response: Response


@dataclass(frozen=True, slots=True)
class NoReplyExpected:
    """A broadcast was sent; meters do not answer one, so there is nothing to wait for."""


@dataclass(frozen=True, slots=True)
class SendFollowUp:
    """A read reply said more follows: send ``data`` (the follow-up request) and restart the
    deadline, since each frame of a multi-frame reply gets the full reply time."""

    data: bytes
    seq: int
    """The follow-up counter sent (1, 2, ...; on the wire in 2007 only)."""


@dataclass(frozen=True, slots=True)
class Payload:
    """The whole payload of a read, follow-up frames joined in order."""

    data: bytes
    frames: int
    """How many reply frames carried it (1 without follow-ups)."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The exchange produced no usable answer."""

    reason: Reason
    detail: str
    """Names the meter and what went wrong, e.g. the malformed bytes in hex."""
    error_word: int | None = None
    """The meter's error word, for ``error_response``."""
    cause: ProtocolError | None = field(default=None, compare=False)
    """The codec error behind a ``checksum`` / ``malformed`` failure (it carries the raw bytes)."""


ExchangeEvent = Reply | NoReplyExpected | Failed
ReadEvent = SendFollowUp | Payload | Failed

_READ_IDENTIFIER_WIDTH: dict[int, int] = {
    Function.READ: 4,
    Function.READ_FOLLOW_UP: 4,
    Function.READ_1997: 2,
    Function.READ_FOLLOW_UP_1997: 2,
}


def refusal(address: Address, what: str, reply: ErrorResponse) -> Failed:
    """The failure for a meter's error reply to ``what`` ("read of DI 00010000", ...)."""
    flags = reply.flags.name
    return Failed(
        "error_response",
        f"meter {address}: refused {what}: error word 0x{reply.error:02X} ({flags or 'none'})",
        error_word=reply.error,
    )


class Exchange:
    """One request frame and the one reply frame that answers it.

    ``reply_expected`` defaults to "not addressed to the broadcast address"; pass True to wait
    for an answer to a broadcast-addressed frame anyway (any meter's reply is then taken).
    """

    def __init__(
        self, request: Frame, *, reply_expected: bool | None = None, wire: bytes | None = None
    ) -> None:
        """``wire`` is ``encode(request)`` when the caller already has it (a read repeated
        every slot sends the same bytes: ``read_request`` keeps them)."""
        if request.control.from_meter:
            raise LocalProtocolError(
                f"frame C={request.control} for meter {request.address}: a reply, not a request"
            )
        self.request = request
        self.reply_expected = (
            not request.address.is_broadcast if reply_expected is None else reply_expected
        )
        self.state = State.IDLE
        self.stray: Address | None = None
        """The last other address a reply came from: the deadline then says ``wrong_address``."""
        self._skipped: Counter[Skip] | None = None
        self._wire = wire
        self._head: bytes | None = None
        """The first bytes of the plain reply (0x68, address, 0x68, control), once sent: the
        fast path of ``next_event``; None where any address may answer."""
        # L taken as sent, up to what it can say: some meters exceed the 200 of a read reply
        self._decoder = FrameDecoder(max_data_length=MAX_DATA_LENGTH)
        self._spoiled: Failed | None = None
        self._outcome: ExchangeEvent | None = None

    @property
    def target(self) -> Address:
        return self.request.address

    @property
    def skipped(self) -> Counter[Skip]:
        """Frames not taken for the reply, by why. Made on first use: almost every exchange
        skips nothing, and a ``Counter`` per exchange was a visible share of a read's CPU."""
        if self._skipped is None:
            self._skipped = Counter()
        return self._skipped

    def send(self) -> bytes:
        """The request's wire bytes; from now on received bytes are looked at."""
        if self.state is not State.IDLE:
            raise LocalProtocolError(f"meter {self.target}: request already sent")
        wire = encode(self.request) if self._wire is None else self._wire
        if self.reply_expected:
            self.state = State.AWAITING_REPLY
            if not (self.target.is_wildcard or self.target.is_broadcast):
                at = wire.index(START)
                self._head = wire[at : at + 8] + bytes((wire[at + 8] | FROM_METER,))
        else:
            self._finish(NoReplyExpected())
        return wire

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes from the line, in any chunking; once the exchange is over they are ignored
        (whatever trails a reply is not this exchange's business)."""
        if self.state is State.IDLE:
            raise LocalProtocolError(f"meter {self.target}: bytes received before sending")
        if self._outcome is None:
            self._decoder.feed(data)

    def next_event(self) -> ExchangeEvent | NeedData:
        """What the bytes received so far amount to; the final event again once over."""
        if self.state is State.IDLE:
            raise LocalProtocolError(f"meter {self.target}: nothing to await before sending")
        if self._outcome is not None:
            return self._outcome
        if self._head is not None:
            # The usual case: the bytes are exactly the addressed meter's plain reply. It is
            # taken without the general search below (which would find the same frame).
            plain = self._decoder.take_whole(self._head)
            if plain is not None:
                reply = Frame(self.target, Control.from_byte(self._head[-1]), plain)
                if not self._other_identifier(reply):
                    return self._finish(self._parse(reply))
                self.skipped[Skip.OTHER_IDENTIFIER] += 1
                return NEED_DATA if self._spoiled is None else self._finish(self._spoiled)
        while True:
            try:
                frame = self._decoder.next_frame()
            except MalformedFrame as exc:
                self._spoil(exc)
                continue
            if frame is None:
                return NEED_DATA if self._spoiled is None else self._finish(self._spoiled)
            if self._is_reply(frame):
                return self._finish(self._parse(frame))

    def deadline_passed(self, waited: float) -> Failed:
        """The caller's deadline (``waited`` seconds) passed without a reply."""
        if self.state is not State.AWAITING_REPLY:
            raise LocalProtocolError(f"meter {self.target}: no reply awaited ({self.state.value})")
        if self.stray is not None:
            failed = Failed(
                "wrong_address", f"meter {self.target}: no reply, but one from address {self.stray}"
            )
        else:
            failed = Failed(
                "timeout", f"meter {self.target}: no reply within {waited * 1000:.0f} ms"
            )
        self._finish(failed)
        return failed

    def _spoil(self, exc: MalformedFrame) -> None:
        """Remember the first malformed frame: it fails the exchange once the buffered bytes
        are searched (the meter does not repeat a reply, so waiting on would only time out)."""
        if self._spoiled is None:
            reason: Reason = "checksum" if isinstance(exc, ChecksumError) else "malformed"
            self._spoiled = Failed(reason, f"meter {self.target}: {exc}", cause=exc)

    def _is_reply(self, frame: Frame) -> bool:
        control, request = frame.control, self.request
        if not control.from_meter:
            skip = Skip.ECHO
        elif control.function != request.control.function:
            skip = Skip.OTHER_FUNCTION
        elif self._other_identifier(frame):
            skip = Skip.OTHER_IDENTIFIER
        elif not (self.target.is_wildcard or self.target.is_broadcast) and (
            frame.address != self.target
        ):
            skip = Skip.OTHER_ADDRESS
            self.stray = frame.address
        else:
            return True
        self.skipped[skip] += 1
        return False

    def _other_identifier(self, reply: Frame) -> bool:
        """A normal read reply naming another data identifier than the one asked for."""
        if reply.control.error:
            return False
        width = _READ_IDENTIFIER_WIDTH.get(self.request.control.function)
        return width is not None and reply.data[:width] != self.request.data[:width]

    def _parse(self, frame: Frame) -> Reply | Failed:
        try:
            return Reply(parse_response(frame))
        except UnexpectedMessage as exc:
            return Failed("malformed", f"meter {self.target}: {exc}", cause=exc)

    def _finish(self, event: ExchangeEvent) -> ExchangeEvent:
        self._outcome = event
        self.state = State.FAILED if isinstance(event, Failed) else State.DONE
        return event


@cache
def read_request(address: Address, di: int, standard: Standard) -> tuple[Frame, bytes]:
    """The request frame of a read and its wire bytes, built once per meter and identifier.

    A fleet reads the same identifiers of the same meters every slot, so encoding them again
    each time is waste; the cost is one frame and ~40 bytes per (meter, identifier) read."""
    frame = ReadRequest(address, di, standard).to_frame()
    return frame, encode(frame)


class ReadExchange:
    """A read of one data identifier, following multi-frame replies to the whole payload.

    Each frame is one ``Exchange`` with its own decoder: bytes that trailed one reply frame
    cannot answer a follow-up that was not yet sent.
    """

    def __init__(
        self,
        address: Address,
        di: int,
        standard: Standard = Standard.DLT645_2007,
        *,
        max_follow_ups: int = MAX_FOLLOW_UPS,
        request: tuple[Frame, bytes] | None = None,
    ) -> None:
        """``request`` is ``read_request(address, di, standard)`` when the caller keeps it
        (a reader holding it per meter skips even the cache lookup)."""
        if max_follow_ups < 0:
            raise LocalProtocolError(f"max_follow_ups {max_follow_ups}: must be >= 0")
        self.address = address
        self.di = di
        self.standard = standard
        self.max_follow_ups = max_follow_ups
        self.label = f"DI {di:0{2 * standard.di_length}X}"
        self.follow_ups = 0
        frame, wire = read_request(address, di, standard) if request is None else request
        self.frame = Exchange(frame, reply_expected=True, wire=wire)
        """The exchange of the frame in flight (the first request, then each follow-up)."""
        self._payload = bytearray()
        self._outcome: Payload | Failed | None = None

    @property
    def state(self) -> State:
        if self._outcome is not None:
            return State.FAILED if isinstance(self._outcome, Failed) else State.DONE
        return self.frame.state

    def send(self) -> bytes:
        """The first request's wire bytes; follow-ups come as ``SendFollowUp`` events."""
        return self.frame.send()

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        if self._outcome is None:
            self.frame.receive_data(data)

    def next_event(self) -> ReadEvent | NeedData:
        if self._outcome is not None:
            return self._outcome
        event = self.frame.next_event()
        if event is NEED_DATA:
            return NEED_DATA
        if isinstance(event, Failed):
            return self._finish(event)
        if not isinstance(event, Reply):
            raise LocalProtocolError(f"meter {self.address}: a read that expects no reply")
        return self._take(event.response)

    def deadline_passed(self, waited: float) -> Failed:
        if self._outcome is not None:
            raise LocalProtocolError(f"meter {self.address}: {self.label} read already over")
        failed = self.frame.deadline_passed(waited)
        self._finish(failed)
        return failed

    def _take(self, reply: Response) -> ReadEvent:
        if isinstance(reply, ErrorResponse):
            return self._finish(refusal(self.address, f"read of {self.label}", reply))
        if not isinstance(reply, ReadResponse) or reply.di != self.di:
            return self._finish(
                Failed("malformed", f"meter {self.address}: odd reply to {self.label}")
            )
        self._payload += reply.payload
        if not reply.more:
            return self._finish(Payload(bytes(self._payload), self.follow_ups + 1))
        if self.follow_ups >= self.max_follow_ups:
            return self._finish(
                Failed(
                    "malformed",
                    f"meter {self.address}: {self.label} split over > {self.max_follow_ups} frames",
                )
            )
        self.follow_ups += 1
        request = ReadFollowUpRequest(self.address, self.di, self.follow_ups, self.standard)
        self.frame = Exchange(request.to_frame(), reply_expected=True)
        return SendFollowUp(self.frame.send(), self.follow_ups)

    def _finish(self, event: Payload | Failed) -> Payload | Failed:
        self._outcome = event
        return event


__all__ = [
    "MAX_FOLLOW_UPS",
    "NEED_DATA",
    "Exchange",
    "ExchangeEvent",
    "Failed",
    "NeedData",
    "NoReplyExpected",
    "Payload",
    "ReadEvent",
    "ReadExchange",
    "Reason",
    "Reply",
    "SendFollowUp",
    "Skip",
    "State",
    "read_request",
]
