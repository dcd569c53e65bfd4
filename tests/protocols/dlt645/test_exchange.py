"""The master-side exchange, byte by byte, against a tiny meter built from the codec.

In the style of h11's ``ConnectionPair``: ``converse`` hands the master's bytes to a test-side
``Meter``, lets a ``Line`` shape what comes back (echoes, neighbours, noise, corruption) and
feeds it to the master whole, in two halves or one byte at a time; every rule must give the
same event for every chunking. A few exchanges use literal published frames instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import get_args

import pytest

from protocols.dlt645 import (
    AckResponse,
    Address,
    ChecksumError,
    ErrorResponse,
    ErrorWord,
    Frame,
    FrameDecoder,
    Function,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    Request,
    Standard,
    TimeSyncRequest,
    WriteRequest,
    encode,
    parse_request,
)
from protocols.dlt645.control import Control
from protocols.dlt645.exchange import (
    MAX_FOLLOW_UPS,
    NEED_DATA,
    Exchange,
    ExchangeEvent,
    Failed,
    NeedData,
    NoReplyExpected,
    Payload,
    ReadEvent,
    ReadExchange,
    Reason,
    Reply,
    SendFollowUp,
    Skip,
    State,
)
from protocols.errors import LocalProtocolError
from storage.records import FailureReason

OURS = Address.parse("000000000161")
NEIGHBOUR = Address.parse("000000000162")
ENERGY = 0x00010000
VOLTAGE_A = 0x02010100
LOAD_PROFILE = 0x06000001

Chunking = Callable[[bytes], list[bytes]]


def whole(data: bytes) -> list[bytes]:
    return [data]


def halves(data: bytes) -> list[bytes]:
    middle = len(data) // 2
    return [data[:middle], data[middle:]]


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


CHUNKINGS = [whole, halves, byte_by_byte]
each_chunking = pytest.mark.parametrize("chunking", CHUNKINGS, ids=lambda c: c.__name__)


# ---------------------------------------------------------------- the pair


@dataclass
class Meter:
    """Answers reads (split into frames of ``frame_payload`` bytes), follow-ups and writes for
    its own address only, like a real meter; ``always_more`` makes it a buggy endless one."""

    address: Address = OURS
    values: dict[int, bytes] = field(default_factory=dict)
    standard: Standard = Standard.DLT645_2007
    frame_payload: int = 100
    always_more: bool = False
    heard: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder()

    def receive(self, wire: bytes) -> bytes:
        self._decoder.feed(wire)
        frame = self._decoder.next_frame()
        assert frame is not None
        request = parse_request(frame)
        self.heard.append(request)
        if request.address.is_broadcast or not request.address.matches(self.address):
            return b""
        return encode(self._answer(request, frame.control.function))

    def _answer(self, request: Request, function: int) -> Frame:
        match request:
            case ReadRequest(di=di) | ReadFollowUpRequest(di=di) if di not in self.values:
                return ErrorResponse(self.address, function, ErrorWord.NO_DATA).to_frame()
            case ReadRequest(di=di):
                return self._part(di, 0, follow_up=False, seq=0)
            case ReadFollowUpRequest(di=di, seq=seq):
                index = sum(isinstance(r, ReadFollowUpRequest) for r in self.heard)
                return self._part(di, index, follow_up=True, seq=seq)
            case ReadAddressRequest():
                return ReadAddressResponse(self.address).to_frame()
        return AckResponse(self.address, function).to_frame()

    def _part(self, di: int, index: int, *, follow_up: bool, seq: int) -> Frame:
        size = self.frame_payload
        payload = self.values[di]
        part = payload[index * size : (index + 1) * size]
        more = self.always_more or (index + 1) * size < len(payload)
        return ReadResponse(
            self.address, di, part, more, follow_up, seq, standard=self.standard
        ).to_frame()


Line = Callable[[bytes, bytes], bytes]
"""What the master hears, given what it sent and what the meter answered."""


def clean(sent: bytes, answer: bytes) -> bytes:
    return answer


def echoing(sent: bytes, answer: bytes) -> bytes:
    """A 2-wire RS-485 adapter: the master hears its own request first."""
    return sent + answer


def led_by(*frames: Frame | bytes) -> Line:
    """Other traffic (late replies, noise) arrives before the meter's answer."""
    lead = b"".join(f if isinstance(f, bytes) else encode(f, preamble=2) for f in frames)
    return lambda sent, answer: lead + answer


Machine = Exchange | ReadExchange
Event = ExchangeEvent | ReadEvent | NeedData


def deliver(machine: Machine, data: bytes, chunking: Chunking) -> Event:
    """Feed ``data`` in chunks, asking after each; the first event that is not NEED_DATA."""
    for chunk in chunking(data):
        machine.receive_data(chunk)
        event = machine.next_event()
        if event is not NEED_DATA:
            return event
    return machine.next_event()


@dataclass
class Conversation:
    events: list[Event]
    sent: list[bytes]

    @property
    def last(self) -> Event:
        return self.events[-1]


def converse(
    machine: Machine, meter: Meter, chunking: Chunking = whole, line: Line = clean
) -> Conversation:
    """Run the exchange to its end (or to NEED_DATA once the line has nothing more)."""
    wire = machine.send()
    events: list[Event] = []
    sent = [wire]
    while True:
        event = deliver(machine, line(wire, meter.receive(wire)), chunking)
        events.append(event)
        if not isinstance(event, SendFollowUp):
            return Conversation(events, sent)
        wire = event.data
        sent.append(wire)


def read(meter: Meter, di: int = ENERGY) -> ReadExchange:
    """A read of ``di`` from our meter, in the edition ``meter`` speaks."""
    return ReadExchange(OURS, di, meter.standard)


# ---------------------------------------------------------------- published frames

# Copied verbatim from "DLT645-2007 规约 常见报文解析", reprinted at
# https://hwhale.com/article/138066 (also in test_published_frames.py).
READ_VOLTAGE_A = "FE FE FE FE 68 61 01 00 00 00 00 68 11 04 33 34 34 35 17 16"
VOLTAGE_A_1001 = "68 61 01 00 00 00 00 68 91 06 33 34 34 35 34 43 10 16"
# 1997: https://kaledl.com/down/1493168.html (read total energy 9010 of meter RS3430163).
KALEDL_READ_9010 = "68 54 07 13 00 80 13 68 01 02 43 C3 DA 16"
KALEDL_9010_REPLY = "68 54 07 13 00 80 13 68 81 06 43 C3 34 33 33 33 2B 16"


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text)


@each_chunking
def test_published_2007_read_sends_the_published_request_and_takes_the_published_reply(
    chunking: Chunking,
) -> None:
    machine = ReadExchange(OURS, VOLTAGE_A)
    assert machine.send() == hexbytes(READ_VOLTAGE_A)
    assert deliver(machine, hexbytes(VOLTAGE_A_1001), chunking) == Payload(b"\x01\x10", 1)
    assert state(machine) is State.DONE


@each_chunking
def test_published_1997_read_with_its_echo(chunking: Chunking) -> None:
    machine = ReadExchange(Address.parse("138000130754"), 0x9010, Standard.DLT645_1997)
    request = machine.send()
    assert request == b"\xfe" * 4 + hexbytes(KALEDL_READ_9010)
    heard = request + hexbytes(KALEDL_9010_REPLY)
    assert deliver(machine, heard, chunking) == Payload(bytes.fromhex("01000000"), 1)
    assert machine.frame.skipped == {Skip.ECHO: 1}


# ---------------------------------------------------------------- skipped frames


@each_chunking
def test_own_request_echoed_by_the_adapter_is_skipped(chunking: Chunking) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    talk = converse(machine, meter, chunking, echoing)
    assert talk.last == Payload(b"\x26\x00\x00\x00", 1)
    assert machine.frame.skipped == {Skip.ECHO: 1}


@each_chunking
def test_late_reply_of_a_neighbour_is_skipped_and_ours_taken(chunking: Chunking) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    neighbour = ReadResponse(NEIGHBOUR, ENERGY, b"\x99\x99\x00\x00").to_frame()
    talk = converse(machine, meter, chunking, led_by(neighbour))
    assert talk.last == Payload(b"\x26\x00\x00\x00", 1)
    assert machine.frame.skipped == {Skip.OTHER_ADDRESS: 1}


@each_chunking
def test_only_a_neighbour_answering_is_wrong_address_at_the_deadline(chunking: Chunking) -> None:
    meter = Meter(address=NEIGHBOUR, values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    meter_answers_anyway = ReadResponse(NEIGHBOUR, ENERGY, b"\x26\x00\x00\x00").to_frame()
    talk = converse(machine, meter, chunking, led_by(meter_answers_anyway))
    assert talk.last is NEED_DATA
    assert state(machine) is State.AWAITING_REPLY
    failed = machine.deadline_passed(0.5)
    assert failed == Failed(
        "wrong_address", "meter 000000000161: no reply, but one from address 000000000162"
    )
    assert state(machine) is State.FAILED
    assert machine.next_event() == failed


def test_silence_is_a_timeout_naming_the_wait() -> None:
    meter = Meter(address=NEIGHBOUR)
    machine = read(meter)
    assert converse(machine, meter).last is NEED_DATA
    assert machine.deadline_passed(0.35) == Failed(
        "timeout", "meter 000000000161: no reply within 350 ms"
    )


@each_chunking
def test_late_reply_to_an_earlier_read_of_another_identifier_is_skipped(
    chunking: Chunking,
) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    late = ReadResponse(OURS, VOLTAGE_A, b"\x01\x22").to_frame()
    assert converse(machine, meter, chunking, led_by(late)).last == Payload(b"\x26\x00\x00\x00", 1)
    assert machine.frame.skipped == {Skip.OTHER_IDENTIFIER: 1}


@each_chunking
def test_late_reply_to_an_earlier_request_of_another_kind_is_skipped(chunking: Chunking) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    late_write_ack = AckResponse(OURS, Function.WRITE).to_frame()
    late_refusal = ErrorResponse(OURS, Function.RELAY_CONTROL, ErrorWord.UNAUTHORISED).to_frame()
    talk = converse(machine, meter, chunking, led_by(late_write_ack, late_refusal))
    assert talk.last == Payload(b"\x26\x00\x00\x00", 1)
    assert machine.frame.skipped == {Skip.OTHER_FUNCTION: 2}


def test_late_replies_of_our_meter_alone_are_a_timeout_not_wrong_address() -> None:
    meter = Meter(address=NEIGHBOUR)
    machine = read(meter)
    late = ReadResponse(OURS, VOLTAGE_A, b"\x01\x22").to_frame()
    assert converse(machine, meter, line=led_by(late)).last is NEED_DATA
    assert machine.deadline_passed(0.5).reason == "timeout"


@each_chunking
def test_noise_and_wake_up_bytes_before_the_reply_are_skipped(chunking: Chunking) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    noise = bytes.fromhex("00 ff 55 fe fe 68 01 55 fe fe")
    assert converse(machine, meter, chunking, led_by(noise)).last == Payload(b"\x26\x00\x00\x00", 1)


@pytest.mark.parametrize("cut", range(1, 68))
def test_echo_neighbour_and_reply_split_anywhere(cut: int) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    neighbour = ReadResponse(NEIGHBOUR, ENERGY, b"\x99\x99\x00\x00").to_frame()
    sent = machine.send()
    heard = sent + encode(neighbour) + meter.receive(sent)
    assert cut < len(heard)
    assert deliver(machine, heard, lambda data: [data[:cut], data[cut:]]) == Payload(
        b"\x26\x00\x00\x00", 1
    )


# ---------------------------------------------------------------- follow-up frames


@each_chunking
def test_follow_up_frames_are_asked_for_with_the_counter_and_joined(chunking: Chunking) -> None:
    profile = bytes(range(250))
    meter = Meter(values={LOAD_PROFILE: profile}, frame_payload=100)
    machine = read(meter, LOAD_PROFILE)
    talk = converse(machine, meter, chunking, echoing)
    assert talk.events == [
        SendFollowUp(talk.sent[1], 1),
        SendFollowUp(talk.sent[2], 2),
        Payload(profile, 3),
    ]
    assert meter.heard[1:] == [
        ReadFollowUpRequest(OURS, LOAD_PROFILE, 1),
        ReadFollowUpRequest(OURS, LOAD_PROFILE, 2),
    ]
    assert talk.sent[1][4:] == hexbytes("68 61 01 00 00 00 00 68 12 05 34 33 33 39 34 50 16")


@each_chunking
def test_follow_up_frames_of_a_1997_meter_have_no_counter(chunking: Chunking) -> None:
    di = 0x9010
    meter = Meter(values={di: bytes(range(12))}, frame_payload=5, standard=Standard.DLT645_1997)
    machine = read(meter, di)
    talk = converse(machine, meter, chunking)
    assert talk.last == Payload(bytes(range(12)), 3)
    assert [decode(wire).control.function for wire in talk.sent] == [0x01, 0x02, 0x02]
    assert [decode(wire).data for wire in talk.sent[1:]] == [b"\x10\x90"] * 2


def test_a_reply_that_never_ends_stops_at_the_cap_without_another_request() -> None:
    meter = Meter(values={ENERGY: b"\x01"}, always_more=True)
    machine = read(meter)
    talk = converse(machine, meter)
    assert [type(event) for event in talk.events] == [SendFollowUp] * MAX_FOLLOW_UPS + [Failed]
    assert talk.last == Failed(
        "malformed", f"meter 000000000161: DI 00010000 split over > {MAX_FOLLOW_UPS} frames"
    )
    assert len(meter.heard) == 1 + MAX_FOLLOW_UPS
    assert state(machine) is State.FAILED


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_the_follow_up_cap_is_a_parameter(cap: int) -> None:
    meter = Meter(values={ENERGY: b"\x01"}, always_more=True)
    machine = ReadExchange(OURS, ENERGY, max_follow_ups=cap)
    talk = converse(machine, meter)
    assert len(meter.heard) == 1 + cap
    assert isinstance(talk.last, Failed)
    assert talk.last.reason == "malformed"


def test_a_reply_in_exactly_the_capped_number_of_frames_is_taken() -> None:
    machine = ReadExchange(OURS, ENERGY, max_follow_ups=2)
    meter = Meter(values={ENERGY: bytes(30)}, frame_payload=10)
    assert converse(machine, meter).last == Payload(bytes(30), 3)


@each_chunking
def test_bytes_trailing_one_reply_frame_cannot_answer_the_follow_up(chunking: Chunking) -> None:
    meter = Meter(values={LOAD_PROFILE: bytes(150)}, frame_payload=100)
    machine = read(meter, LOAD_PROFILE)
    sent = machine.send()
    first = meter.receive(sent)
    early = ReadResponse(OURS, LOAD_PROFILE, bytes(50), follow_up=True, seq=1).to_frame()
    event = deliver(machine, first + encode(early), chunking)
    assert isinstance(event, SendFollowUp)
    assert machine.next_event() is NEED_DATA
    assert deliver(machine, meter.receive(event.data), chunking) == Payload(bytes(150), 2)


# ---------------------------------------------------------------- error replies


@each_chunking
def test_an_error_reply_to_a_read_fails_with_the_error_word(chunking: Chunking) -> None:
    meter = Meter(values={})
    machine = read(meter)
    assert converse(machine, meter, chunking, echoing).last == Failed(
        "error_response",
        "meter 000000000161: refused read of DI 00010000: error word 0x02 (NO_DATA)",
        error_word=0x02,
    )


def test_an_error_reply_to_a_follow_up_fails_the_read() -> None:
    meter = Meter(values={LOAD_PROFILE: bytes(150)}, frame_payload=100)
    machine = read(meter, LOAD_PROFILE)
    event = deliver(machine, meter.receive(machine.send()), whole)
    assert isinstance(event, SendFollowUp)
    refusal = ErrorResponse(OURS, Function.READ_FOLLOW_UP, ErrorWord.OTHER).to_frame()
    failed = deliver(machine, encode(refusal), whole)
    assert isinstance(failed, Failed)
    assert (failed.reason, failed.error_word) == ("error_response", 0x01)


@each_chunking
def test_a_plain_exchange_hands_the_error_reply_to_the_caller(chunking: Chunking) -> None:
    request = WriteRequest(OURS, 0x04000102, b"\x00\x00\x12").to_frame()
    machine = Exchange(request)
    machine.send()
    refusal = ErrorResponse(OURS, Function.WRITE, ErrorWord.UNAUTHORISED)
    assert deliver(machine, encode(refusal.to_frame()), chunking) == Reply(refusal)


def test_an_error_reply_without_its_error_word_is_malformed() -> None:
    machine = ReadExchange(OURS, ENERGY)
    machine.send()
    bare = Frame(OURS, Control(Function.READ, from_meter=True, error=True))
    failed = deliver(machine, encode(bare), whole)
    assert isinstance(failed, Failed)
    assert failed.reason == "malformed"
    assert "error reply without an error word" in failed.detail


# ---------------------------------------------------------------- corrupt frames


def corrupt_checksum(wire: bytes) -> bytes:
    return wire[:-2] + bytes(((wire[-2] + 1) & 0xFF,)) + wire[-1:]


def corrupt_end(wire: bytes) -> bytes:
    return wire[:-1] + b"\x17"


@each_chunking
@pytest.mark.parametrize(
    ("corrupt", "reason"), [(corrupt_checksum, "checksum"), (corrupt_end, "malformed")]
)
def test_a_corrupt_reply_fails_at_once(
    chunking: Chunking, corrupt: Callable[[bytes], bytes], reason: Reason
) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    talk = converse(machine, meter, chunking, lambda sent, answer: corrupt(answer))
    assert isinstance(talk.last, Failed)
    assert talk.last.reason == reason
    assert talk.last.detail.startswith("meter 000000000161: malformed DL/T 645 frame: ")
    assert talk.last.cause is not None
    assert state(machine) is State.FAILED


def test_a_checksum_failure_carries_the_raw_frame() -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    talk = converse(machine, meter, line=lambda sent, answer: corrupt_checksum(answer))
    assert isinstance(talk.last, Failed)
    assert isinstance(talk.last.cause, ChecksumError)
    assert talk.last.cause.raw == corrupt_checksum(meter_reply_without_preamble(meter))


def meter_reply_without_preamble(meter: Meter) -> bytes:
    frame = ReadResponse(meter.address, ENERGY, meter.values[ENERGY]).to_frame()
    return encode(frame, preamble=0)


@pytest.mark.parametrize("garbled", ["echo", "neighbour"])
def test_a_valid_reply_buffered_behind_a_malformed_frame_is_found(garbled: str) -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    sent = machine.send()
    answer = meter.receive(sent)
    if garbled == "echo":
        bad = corrupt_checksum(sent)
    else:
        bad = corrupt_end(encode(ReadResponse(NEIGHBOUR, ENERGY, b"\x01\x00\x00\x00").to_frame()))
    assert deliver(machine, bad + answer, whole) == Payload(b"\x26\x00\x00\x00", 1)


def test_a_malformed_frame_with_nothing_buffered_behind_it_fails_once_complete() -> None:
    """Fed byte by byte, the reply is not yet there when the garbled echo is complete: the
    exchange ends then, as the head-end always did (no waiting on a line that went wrong)."""
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    sent = machine.send()
    answer = meter.receive(sent)
    failed = deliver(machine, corrupt_checksum(sent) + answer, byte_by_byte)
    assert isinstance(failed, Failed)
    assert failed.reason == "checksum"
    assert failed.detail.endswith(corrupt_checksum(sent)[4:].hex(" "))
    machine.receive_data(answer)
    assert machine.next_event() == failed


def test_a_malformed_frame_then_only_other_frames_fails_with_the_malformed_reason() -> None:
    meter = Meter(values={ENERGY: b"\x26\x00\x00\x00"})
    machine = read(meter)
    sent = machine.send()
    neighbour = encode(ReadResponse(NEIGHBOUR, ENERGY, b"\x01\x00\x00\x00").to_frame())
    event = deliver(machine, corrupt_checksum(sent) + sent + neighbour, whole)
    assert isinstance(event, Failed)
    assert event.reason == "checksum"


# ---------------------------------------------------------------- addressing


@each_chunking
def test_a_wildcard_request_takes_the_reply_of_whichever_meter_answers(
    chunking: Chunking,
) -> None:
    machine = Exchange(ReadAddressRequest().to_frame())
    meter = Meter(address=Address.parse("202611230001"))
    talk = converse(machine, meter, chunking, echoing)
    assert talk.last == Reply(ReadAddressResponse(Address.parse("202611230001")))
    assert machine.stray is None


def test_a_broadcast_expects_no_reply_and_ignores_what_follows() -> None:
    machine = Exchange(TimeSyncRequest(datetime(2026, 11, 23, 10, 15, tzinfo=UTC)).to_frame())
    meter = Meter()
    wire = machine.send()
    assert meter.receive(wire) == b""
    assert state(machine) is State.DONE
    assert machine.next_event() == NoReplyExpected()
    machine.receive_data(wire)
    assert machine.next_event() == NoReplyExpected()


def test_a_broadcast_addressed_frame_can_still_wait_for_a_reply_when_asked_to() -> None:
    machine = Exchange(ReadRequest(Address.BROADCAST, ENERGY).to_frame(), reply_expected=True)
    machine.send()
    assert state(machine) is State.AWAITING_REPLY
    reply = ReadResponse(OURS, ENERGY, b"\x26\x00\x00\x00")
    assert deliver(machine, encode(reply.to_frame()), whole) == Reply(reply)


# ---------------------------------------------------------------- the machine itself


def test_states_of_a_plain_exchange() -> None:
    machine = Exchange(ReadRequest(OURS, ENERGY).to_frame())
    assert state(machine) is State.IDLE
    machine.send()
    assert state(machine) is State.AWAITING_REPLY
    assert machine.next_event() is NEED_DATA
    reply = ReadResponse(OURS, ENERGY, b"\x26\x00\x00\x00")
    machine.receive_data(encode(reply.to_frame()))
    assert machine.next_event() == Reply(reply)
    assert state(machine) is State.DONE
    assert machine.next_event() == Reply(reply)


@pytest.mark.parametrize(
    "misuse",
    [
        lambda m: m.receive_data(b"\x68"),
        lambda m: m.next_event(),
        lambda m: m.deadline_passed(1.0),
    ],
    ids=["receive", "next_event", "deadline"],
)
def test_nothing_but_send_before_sending(misuse: Callable[[Exchange], object]) -> None:
    with pytest.raises(LocalProtocolError, match="000000000161"):
        misuse(Exchange(ReadRequest(OURS, ENERGY).to_frame()))


def test_a_request_is_sent_once_and_its_deadline_passes_once() -> None:
    machine = Exchange(ReadRequest(OURS, ENERGY).to_frame())
    machine.send()
    with pytest.raises(LocalProtocolError, match="already sent"):
        machine.send()
    machine.deadline_passed(0.5)
    with pytest.raises(LocalProtocolError, match="no reply awaited"):
        machine.deadline_passed(0.5)


def test_a_reply_frame_is_no_request() -> None:
    with pytest.raises(LocalProtocolError, match="a reply, not a request"):
        Exchange(ReadResponse(OURS, ENERGY, b"").to_frame())


def test_failure_reasons_are_the_stored_reason_codes() -> None:
    assert set(get_args(Reason)) <= {reason.value for reason in FailureReason}


def state(machine: Machine) -> State:
    """The state, read through a call so that mypy does not pin it between transitions."""
    return machine.state


def decode(wire: bytes) -> Frame:
    decoder = FrameDecoder()
    decoder.feed(wire)
    frame = decoder.next_frame()
    assert frame is not None
    return frame
