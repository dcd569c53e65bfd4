"""Typed requests and replies: frame layouts, parse(build(x)) == x, error words, 1997."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import (
    AckResponse,
    Address,
    ChangeBaudRequest,
    Control,
    EncodeError,
    ErrorResponse,
    ErrorWord,
    ErrorWord1997,
    Frame,
    FreezeRequest,
    Function,
    Message,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    RelayAction,
    RelayControlRequest,
    Standard,
    TimeSyncRequest,
    UnexpectedMessage,
    UnsupportedFunction,
    WriteAddressRequest,
    WriteRequest,
    parse_request,
    parse_response,
    read_request,
    read_response,
)

METER = Address.parse("123456789012")
V2007, V1997 = Standard.DLT645_2007, Standard.DLT645_1997
WHEN = datetime(2026, 11, 23, 15, 4, 5)  # noqa: DTZ001 - meter wall-clock time has no zone

REQUESTS = [
    ReadRequest(METER, 0x00010000),
    ReadRequest(METER, 0x9010, V1997),
    ReadFollowUpRequest(METER, 0x04000102, seq=3),
    ReadFollowUpRequest(METER, 0xB611, seq=0, standard=V1997),
    ReadAddressRequest(),
    WriteRequest(METER, 0x04000102, b"\x05\x04\x15", b"\x02\x11\x22\x33", b"\x01\x02\x03\x04"),
    WriteRequest(METER, 0xC011, b"\x05\x04\x15", b"\x02\x11\x22\x33", standard=V1997),
    WriteAddressRequest(METER),
    WriteAddressRequest(METER, standard=V1997),
    TimeSyncRequest(WHEN),
    FreezeRequest(METER),
    FreezeRequest(METER, minute=0, hour=0),
    ChangeBaudRequest(METER, 9600),
    ChangeBaudRequest(METER, 2400, V1997),
    RelayControlRequest(METER, RelayAction.TRIP, WHEN, b"\x02\x00\x00\x00"),
]
RESPONSES = [
    ReadResponse(METER, 0x00010000, b"\x26\x00\x00\x00"),
    ReadResponse(METER, 0x04000102, b"\x01", more=True),
    ReadResponse(METER, 0x04000102, b"\x01\x02", follow_up=True, seq=2),
    ReadResponse(METER, 0x9010, b"\x01\x00\x00\x00", more=True, standard=V1997),
    ReadResponse(METER, 0x9010, b"\x01\x00\x00\x00", follow_up=True, standard=V1997),
    ReadAddressResponse(METER),
    AckResponse(METER, Function.WRITE),
    AckResponse(METER, Function.CHANGE_BAUD, b"\x20"),
    AckResponse(METER, Function.RELAY_CONTROL),
    ErrorResponse(METER, Function.READ, ErrorWord.NO_DATA),
    ErrorResponse(METER, Function.READ_1997, ErrorWord1997.BAD_IDENTIFIER),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=repr)
def test_request_round_trip(request_: Message) -> None:
    frame = request_.to_frame()
    assert not frame.control.from_meter
    assert parse_request(frame) == request_


@pytest.mark.parametrize("response", RESPONSES, ids=repr)
def test_response_round_trip(response: Message) -> None:
    frame = response.to_frame()
    assert frame.control.from_meter
    assert parse_response(frame) == response


def test_read_request_data_is_di_low_byte_first() -> None:
    frame = read_request(METER, 0x02010100)
    assert frame == Frame(METER, Control(0x11), bytes([0x00, 0x01, 0x01, 0x02]))
    assert read_request(METER, 0xB611, V1997).data == bytes([0x11, 0xB6])


def test_read_response_control_codes() -> None:
    assert read_response(METER, 0x00010000, b"").control.to_byte() == 0x91
    assert read_response(METER, 0x00010000, b"", more=True).control.to_byte() == 0xB1
    follow_up = ReadResponse(METER, 0x00010000, b"", follow_up=True, seq=1)
    assert follow_up.to_frame().control.to_byte() == 0x92
    assert read_response(METER, 0x9010, b"", standard=V1997).control.to_byte() == 0x81
    assert read_response(METER, 0x9010, b"", True, V1997).control.to_byte() == 0xA1


def test_follow_up_request_and_reply_carry_the_sequence_number() -> None:
    assert ReadFollowUpRequest(METER, 0x00010000, seq=2).to_frame().data == bytes([0, 0, 1, 0, 2])
    reply = ReadResponse(METER, 0x00010000, b"\xaa", follow_up=True, seq=7).to_frame()
    assert reply.data == bytes([0, 0, 1, 0, 0xAA, 7])


def test_time_sync_is_broadcast_seconds_first() -> None:
    frame = TimeSyncRequest(WHEN).to_frame()
    assert frame.address == Address.BROADCAST
    assert frame.control.to_byte() == 0x08
    assert frame.data == bytes([0x05, 0x04, 0x15, 0x23, 0x11, 0x26])


def test_time_sync_uses_the_wall_fields_of_an_aware_time() -> None:
    beijing = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 23, 7, 4, 5, 999, tzinfo=UTC).astimezone(beijing)
    assert TimeSyncRequest(moment).to_frame() == TimeSyncRequest(WHEN).to_frame()


def test_relay_control_layout() -> None:
    frame = RelayControlRequest(
        METER, RelayAction.CLOSE_PERMITTED, WHEN, b"\x02\x01\x02\x03", b"\x0a\x0b\x0c\x0d"
    ).to_frame()
    assert frame.control.to_byte() == 0x1C
    assert frame.data == bytes.fromhex("02010203 0a0b0c0d 1b00 050415231126")


def test_write_2007_has_password_then_operator_then_data() -> None:
    frame = WriteRequest(METER, 0x04000102, b"\x09", b"\x02\x00\x00\x01", b"\x0f" * 4).to_frame()
    assert frame.control.to_byte() == 0x14
    assert frame.data == bytes.fromhex("02010004 02000001 0f0f0f0f 09")


def test_write_address_goes_to_the_wildcard_with_the_new_address() -> None:
    frame = WriteAddressRequest(METER).to_frame()
    assert frame.address == Address.WILDCARD
    assert frame.data == METER.to_wire()
    with pytest.raises(EncodeError, match="real address"):
        WriteAddressRequest(Address.BROADCAST).to_frame()


def test_freeze_defaults_to_every_field_99() -> None:
    assert FreezeRequest(METER).to_frame().data == bytes([0x99] * 4)
    assert FreezeRequest(METER, 30, 23, 1, 12).to_frame().data == bytes([0x30, 0x23, 1, 0x12])
    with pytest.raises(EncodeError, match=r"not 0\.\.59"):
        FreezeRequest(METER, minute=60).to_frame()


def test_read_address_reply_carries_the_address_twice() -> None:
    frame = ReadAddressResponse(METER).to_frame()
    assert frame.control.to_byte() == 0x93
    assert frame.address == METER
    assert frame.data == METER.to_wire()


@pytest.mark.parametrize(
    ("word", "flags"),
    [
        (0x01, ErrorWord.OTHER),
        (0x02, ErrorWord.NO_DATA),
        (0x04, ErrorWord.UNAUTHORISED),
        (0x08, ErrorWord.BAUD_UNCHANGEABLE),
        (0x10, ErrorWord.TOO_MANY_YEAR_ZONES),
        (0x20, ErrorWord.TOO_MANY_DAILY_PERIODS),
        (0x40, ErrorWord.TOO_MANY_TARIFFS),
        (0x06, ErrorWord.NO_DATA | ErrorWord.UNAUTHORISED),
    ],
)
def test_error_word_bits_2007(word: int, flags: ErrorWord) -> None:
    frame = Frame(METER, Control(0x11, from_meter=True, error=True), bytes([word]))
    assert frame.control.to_byte() == 0xD1
    reply = parse_response(frame)
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == flags
    assert reply.standard is V2007


def test_error_word_1997_uses_the_1997_bits() -> None:
    frame = Frame(METER, Control(0x01, from_meter=True, error=True), b"\x04")
    assert frame.control.to_byte() == 0xC1
    reply = parse_response(frame)
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord1997.BAD_PASSWORD


def test_relay_error_reply() -> None:
    reply = parse_response(ErrorResponse(METER, Function.RELAY_CONTROL, 0x04).to_frame())
    assert reply.to_frame().control.to_byte() == 0xDC
    assert isinstance(reply, ErrorResponse)
    assert ErrorWord.UNAUTHORISED in reply.flags


def test_oversized_2007_read_reply_must_be_split() -> None:
    with pytest.raises(EncodeError, match="follow-up"):
        read_response(METER, 0x00010000, bytes(197))
    assert len(read_response(METER, 0x00010000, bytes(196)).data) == 200


def test_di_wider_than_the_edition_is_rejected() -> None:
    with pytest.raises(EncodeError, match="2 bytes"):
        read_request(METER, 0x00010000, V1997)


def test_bad_secrets_and_baud_are_rejected() -> None:
    with pytest.raises(EncodeError, match="password"):
        WriteRequest(METER, 0x04000102, b"", b"\x02").to_frame()
    with pytest.raises(EncodeError, match="baud rate 115200"):
        ChangeBaudRequest(METER, 115200).to_frame()


def test_reply_given_to_parse_request_is_refused() -> None:
    with pytest.raises(UnexpectedMessage, match="a reply where a request"):
        parse_request(read_response(METER, 0x00010000, b""))
    with pytest.raises(UnexpectedMessage, match="a request where a reply"):
        parse_response(read_request(METER, 0x00010000))


@pytest.mark.parametrize(
    ("control", "data", "problem"),
    [
        (0x11, b"\x00\x00\x01", "needs 4 data bytes"),
        (0x01, b"\x10", "needs 2 data bytes"),
        (0x14, b"\x00" * 11, "at least 12"),
        (0x08, b"\x00" * 6, "bad date/time"),
        (0x17, b"\x03", "baud feature"),
        (0x1C, bytes(8) + b"\x99" + bytes(7), "relay action"),
        (0x16, b"\x9a\x00\x00\x00", "not BCD"),
    ],
)
def test_requests_that_do_not_fit_their_function(control: int, data: bytes, problem: str) -> None:
    with pytest.raises(UnexpectedMessage, match=problem):
        parse_request(Frame(METER, Control.from_byte(control), data))


def test_unsupported_function_names_the_code() -> None:
    with pytest.raises(UnsupportedFunction) as caught:
        parse_request(Frame(METER, Control(0x1F), b""))
    assert caught.value.function == 0x1F
    with pytest.raises(UnsupportedFunction):
        parse_response(Frame(METER, Control(0x1F, from_meter=True), b""))


@pytest.mark.parametrize(
    ("control", "data", "problem"),
    [
        (0xD1, b"", "without an error word"),
        (0x91, b"\x00\x00\x01", "without identifier"),
        (0x92, b"\x00\x00\x01\x00", "too short"),
        (0x93, b"\x12\x34", "6 bytes"),
        (0x93, b"\x1f" * 6, "not BCD"),
    ],
)
def test_replies_that_do_not_fit_their_function(control: int, data: bytes, problem: str) -> None:
    with pytest.raises(UnexpectedMessage, match=problem):
        parse_response(Frame(METER, Control.from_byte(control), data))


@given(st.integers(0, 0xFF))
def test_control_byte_round_trip(value: int) -> None:
    assert Control.from_byte(value).to_byte() == value


@given(
    st.integers(0, 0xFFFFFFFF),
    st.binary(max_size=196),
    st.booleans(),
)
def test_read_response_round_trip_any_di_and_payload(di: int, payload: bytes, more: bool) -> None:
    response = ReadResponse(METER, di, payload, more=more)
    assert parse_response(response.to_frame()) == response


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))  # noqa: DTZ001
def test_time_sync_round_trip(moment: datetime) -> None:
    request = TimeSyncRequest(moment.replace(microsecond=0))
    assert parse_request(request.to_frame()) == request
