"""Our encoder round trips, unit identifiers, data formats and hostile input (typed errors,
resync), for the 1376.1 codec. Published frames are in test_published_frames.py."""

# ruff: noqa: DTZ001 - 1376.1 times are the terminal's wall clock, naive by design

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import Address as MeterAddress
from protocols.dlt645 import ReadRequest
from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.gdw1376 import (
    Address,
    ChecksumError,
    EncodeError,
    EndByteError,
    FrameDecoder,
    LengthFieldError,
    MalformedFrame,
    ShortUserData,
    TimeLabel,
    UnexpectedMessage,
    UnitId,
    confirm_units,
    decode_frame,
    encode,
    formats,
    link_test,
    parse_units,
    port_command,
    query_archive,
    read_current,
    read_curve,
    read_daily,
    read_events,
    read_monthly,
    set_archive,
    sync_time,
)
from protocols.gdw1376.forwarding import LineSettings, forward, inner_frame
from protocols.gdw1376.layout import Field
from protocols.gdw1376.units import group_units

TERMINAL = Address("1100", 1234)
LOGIN = bytes.fromhex("68 32 00 32 00 68 C9 00 02 34 12 00 02 71 00 00 01 00 85 16")
METER = {
    "seq": 1,
    "point": 1,
    "baud_and_port": 0x62,
    "protocol": 30,
    "address": "000000000161",
    "password": "000000000000",
    "tariffs": 4,
    "digits": 0x0A,
    "collector": "000000000000",
    "user_class": 0x11,
}


def round_trip(frame_bytes: bytes) -> list[dict[str, object]]:
    frame = decode_frame(frame_bytes)
    assert encode(frame) == frame_bytes
    return [dict(unit.values) for unit in parse_units(frame)]


def test_every_builder_round_trips_through_the_decoder() -> None:
    day = date(2026, 11, 30)
    frames = [
        read_current(TERMINAL, [(0, 2), (1, 129), (2, 129), (1, 161)], seq=1),
        read_daily(TERMINAL, [1, 2, 3], 161, day, seq=2),
        read_monthly(TERMINAL, [9], 177, date(2026, 10, 1), seq=3),
        read_curve(TERMINAL, 1, 81, datetime(2026, 11, 30, 0, 15), 1, 96, seq=4),
        read_events(TERMINAL, 1, 0, 10, seq=5),
        sync_time(TERMINAL, datetime(2026, 12, 2, 6, 0, 5), seq=6, tp=TimeLabel(6, 2, 6, 0, 5)),
        port_command(TERMINAL, 51, 2, seq=7),
        set_archive(TERMINAL, [METER, {**METER, "seq": 2, "point": 2}], seq=8),
        query_archive(TERMINAL, [1, 2], seq=9),
        forward(
            TERMINAL,
            31,
            ReadRequest(MeterAddress.parse("000000000161"), 0x00010000).to_frame(),
            seq=10,
        ),
    ]
    decoded = [round_trip(encode(frame)) for frame in frames]
    assert decoded[1] == [{"td_d": day}] * 3
    assert decoded[2] == [{"td_m": date(2026, 10, 1)}]
    assert decoded[3][0]["td_c_points"] == 96
    assert decoded[4] == [{"pm": 0, "pn": 10}]
    assert decoded[5] == [{"time": datetime(2026, 12, 2, 6, 0, 5)}]
    assert decoded[6] == [{"port": 2}]
    archive = decoded[7][0]["meters"]
    assert isinstance(archive, list)
    assert archive[1]["point"] == 2
    assert archive[0] == METER
    assert decoded[8] == [{"count": 2, "seqs": [1, 2]}]
    forwarded = decoded[9][0]["frame"]
    assert isinstance(forwarded, bytes)
    assert inner_frame(forwarded).address == MeterAddress.parse("000000000161")
    assert [frame.seq.number for frame in frames] == list(range(1, 11))
    assert decode_frame(encode(frames[7])).pw == bytes(16)  # AFN 04 carries PW
    assert decode_frame(encode(frames[0])).pw is None


def test_units_of_one_point_group_share_an_identifier() -> None:
    frame = read_daily(TERMINAL, [1, 2, 3], 161, date(2026, 1, 1), seq=0)
    assert frame.body[:4] == bytes((0x07, 0x01, 0x01, 0x14))  # p1..p3, F161 (group 20, bit 0)
    assert group_units([(1, 1), (1, 2), (9, 1)]) == [UnitId((1,), (1, 2)), UnitId((9,), (1,))]


@given(st.lists(st.integers(1, 2040), min_size=1, max_size=8, unique=True), st.integers(1, 248))
def test_unit_identifiers_round_trip(points: list[int], item: int) -> None:
    group = (points[0] - 1) // 8
    points = sorted({group * 8 + (point - 1) % 8 + 1 for point in points})
    unit = UnitId(tuple(points), (item,))
    assert UnitId.from_wire(unit.to_wire()) == unit


def test_p0_and_the_item_bitmap() -> None:
    assert UnitId((0,), (1,)).to_wire() == b"\x00\x00\x01\x00"
    assert UnitId((0,), (3,)).to_wire() == b"\x00\x00\x04\x00"
    assert UnitId((2,), (129,)).to_wire() == bytes.fromhex("02010110")


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("A.14", 123456.7891),
        ("A.11", 999999.99),
        ("A.9", -12.3456),
        ("A.25", -1.5),
        ("A.7", 230.1),
        ("A.5", -99.9),
        ("A.12", "000000000161"),
        ("A.15", datetime(2019, 7, 4, 15, 18)),
        ("A.1", datetime(2019, 7, 4, 17, 0, 40)),
        ("A.20", date(2018, 8, 27)),
        ("A.21", date(2018, 7, 1)),
        ("A.14", None),
    ],
)
def test_formats_round_trip(code: str, value: object) -> None:
    raw = formats.encode(code, value)  # type: ignore[arg-type]
    assert len(raw) == formats.FORMATS[code].length
    assert formats.decode(code, raw) == value


def test_no_data_is_any_ee_byte_or_all_ff() -> None:
    """EEH anywhere, or every byte FFH, is a register with no data; one FFH byte is a digit
    error, not no data (the codec reads values fast but must not widen "no data")."""
    assert formats.decode("A.14", bytes.fromhex("ffffffffff")) is None
    assert formats.decode("A.14", bytes.fromhex("00ee000000")) is None
    with pytest.raises(UnexpectedMessage, match=r"A\.14"):
        formats.decode("A.14", bytes.fromhex("ff00000000"))


def test_field_lengths_of_every_kind_of_format() -> None:
    assert [Field("x", fmt).length for fmt in ("bin2", "ascii16", "A.14", "A.15", "A.20")] == [
        2,
        16,
        5,
        5,
        3,
    ]
    with pytest.raises(EncodeError, match=r"A\.99"):
        _ = Field("x", "A.99").length


def test_a1_carries_the_weekday() -> None:
    assert formats.encode("A.1", datetime(2019, 7, 4, 17, 0, 40)) == bytes.fromhex("400017048719")


def test_the_scaled_formats() -> None:
    assert formats.decode("A.2", bytes((0x23, 0b1101_0001))) == -1.23  # 123 x 10^-2, negative
    assert formats.decode("A.3", bytes.fromhex("78563411")) == -1345678.0  # kWh, negative
    assert formats.decode("A.3", bytes.fromhex("78563442")) == 2345678 * 1000.0


def test_all_28_formats_are_in_the_table() -> None:
    assert list(formats.FORMATS) == [f"A.{n}" for n in range(1, 29)]


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(EncodeError, match="does not fit"):
        formats.encode("A.7", 1000.0)
    with pytest.raises(EncodeError, match="negative"):
        formats.encode("A.14", -1.0)
    with pytest.raises(UnexpectedMessage, match="not BCD"):
        formats.decode("A.14", bytes.fromhex("0A00000000"))


def test_confirm_units_names_each_unit() -> None:
    received = decode_frame(encode(read_current(TERMINAL, [(0, 2)], seq=3)))
    frame = confirm_units(received, [(UnitId((0,), (2,)), True), (UnitId((1,), (129,)), False)])
    (unit,) = round_trip(encode(frame))
    assert unit == {
        "afn": 0x0C,
        "units": [{"unit": "00000200", "error": 0}, {"unit": "01010110", "error": 1}],
    }


def test_login_of_a_simulated_terminal_is_the_published_frame() -> None:
    assert encode(link_test(Address("0200", 4660), 1, seq=1)) == LOGIN


def test_line_settings_word() -> None:
    assert LineSettings.from_byte(0x6B) == LineSettings(2400, 1, "even", 8)
    assert LineSettings(2400, 1, "even", 8).to_byte() == 0x6B


# --- hostile input ----------------------------------------------------------------------


def frames_of(stream: bytes) -> tuple[list[bytes], list[MalformedFrame]]:
    decoder = FrameDecoder()
    decoder.feed(stream)
    good: list[bytes] = []
    bad: list[MalformedFrame] = []
    while True:
        try:
            frame = decoder.next_frame()
        except MalformedFrame as exc:
            bad.append(exc)
            continue
        if frame is None:
            return good, bad
        good.append(encode(frame))


def corrupt(raw: bytes, at: int, value: int) -> bytes:
    data = bytearray(raw)
    data[at] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("broken", "error", "words"),
    [
        (corrupt(LOGIN, -2, 0x00), ChecksumError, "checksum 00, computed 85"),
        (corrupt(LOGIN, -1, 0x17), EndByteError, "end byte 17"),
        (corrupt(LOGIN, 3, 0x36), LengthFieldError, "the two L fields differ"),
        (bytes.fromhex("68 31 00 31 00 68") + LOGIN[6:], LengthFieldError, "protocol id 1"),
    ],
)
def test_bad_frames_raise_typed_errors_and_the_next_frame_still_decodes(
    broken: bytes, error: type[MalformedFrame], words: str
) -> None:
    good, bad = frames_of(broken + LOGIN)
    assert good == [LOGIN]
    assert [type(exc) for exc in bad] == [error]
    assert words in str(bad[0])
    assert isinstance(bad[0], RemoteProtocolError)
    assert bad[0].raw[:1] == b"\x68"


def test_a_too_long_length_is_refused_at_once() -> None:
    decoder = FrameDecoder(max_user_data=200)
    decoder.feed(bytes.fromhex("68 22 04 22 04 68"))  # 264 bytes announced
    with pytest.raises(LengthFieldError, match="more than 200"):
        decoder.next_frame()


def test_user_data_too_short_for_its_auxiliary_fields() -> None:
    # An AFN 04 downlink frame must carry 16 bytes of PW; this one has 4 bytes after SEQ.
    user = bytes.fromhex("4A 00 11 D2 04 02 04 60 00 00 01 00")
    frame = bytes.fromhex("68 32 00 32 00 68") + user + bytes((sum(user) & 0xFF, 0x16))
    good, bad = frames_of(frame + LOGIN)
    assert good == [LOGIN]
    assert isinstance(bad[0], ShortUserData)


def test_truncated_frame_then_a_whole_one() -> None:
    """A frame cut off by a reconnect, then a whole one: typed errors, then the frame."""
    decoder = FrameDecoder()
    decoder.feed(LOGIN[:10])
    assert decoder.next_frame() is None  # it may still complete
    good, bad = frames_of(LOGIN[:10] + LOGIN)
    assert good == [LOGIN]
    assert bad
    assert all(isinstance(exc, MalformedFrame) for exc in bad)


def test_garbage_between_frames_is_counted() -> None:
    good, bad = frames_of(b"\x00\x68\x68garbage" + LOGIN + b"\xff" * 7 + LOGIN)
    assert good == [LOGIN, LOGIN]
    assert bad == []


def test_decode_frame_wants_exactly_one_frame() -> None:
    with pytest.raises(MalformedFrame, match="incomplete"):
        decode_frame(LOGIN[:-1])
    with pytest.raises(MalformedFrame, match="before or after"):
        decode_frame(b"\x00" + LOGIN)


def test_units_that_do_not_fit_are_unexpected_messages() -> None:
    frame = read_daily(TERMINAL, [1], 161, date(2026, 1, 1), seq=0)
    short = decode_frame(encode(frame)).body[:-1]
    from dataclasses import replace

    with pytest.raises(UnexpectedMessage, match="td_d"):
        parse_units(replace(frame, body=short))


def test_our_mistakes_are_local_errors() -> None:
    with pytest.raises(LocalProtocolError, match="region code"):
        Address("11", 1)
    with pytest.raises(LocalProtocolError, match="one group"):
        UnitId((1, 9), (1,))
    with pytest.raises(LocalProtocolError, match="port commands"):
        port_command(TERMINAL, 52, 1, seq=0)


def _uplink(afn: int, body: bytes) -> list[dict[str, object]]:
    from protocols.gdw1376 import Control, Frame, Seq

    frame = Frame(Control(up=True, primary=False, function=8), TERMINAL, afn, Seq(0), body)
    return round_trip(encode(frame))


def test_event_records_the_master_acts_on() -> None:
    a15 = formats.encode("A.15", datetime(2026, 12, 1, 8, 30))
    erc27 = bytes((27, 17)) + a15 + (0x8003).to_bytes(2, "little")
    erc27 += formats.encode("A.14", 1234.5) + formats.encode("A.14", 1200.0)
    erc31 = bytes((31, 21)) + a15 + (5).to_bytes(2, "little") + a15
    erc31 += formats.encode("A.14", 77.7) + formats.encode("A.11", 1.5)
    erc35 = bytes((35, 5 + 2 + 8)) + a15 + bytes((2, 1))
    erc35 += formats.encode("A.12", "000000000777") + bytes((0x21, 0x01))
    erc13 = bytes((13, 8)) + a15 + (7).to_bytes(2, "little") + bytes((0x10,))
    erc21 = bytes((21, 6)) + a15 + bytes((4,))
    unknown = bytes((99, 3, 1, 2, 3))
    records = erc27 + erc31 + erc35 + erc13 + erc21 + unknown
    body = UnitId((0,), (1,)).to_wire() + bytes((6, 0, 0, 6)) + records
    (unit,) = _uplink(0x0E, body)
    records_read = unit["records"]
    assert isinstance(records_read, list)
    r27, r31, r35, r13, r21, r99 = records_read
    assert (r27["point"], r27["started"], r27["energy_after"]) == (3, True, 1200.0)
    assert (r31["point"], r31["last_forward_active"], r31["last_read"]) == (
        5,
        77.7,
        datetime(2026, 12, 1, 8, 30),
    )
    assert r35["meters"] == [{"address": "000000000777", "phase_and_signal": 0x21, "protocol": 1}]
    assert (r13["point"], r13["fault_flags"]) == (7, 0x10)
    assert r21["fault_code"] == 4
    assert r99 == {"erc": 99, "event": "not decoded", "raw": "010203"}


def test_an_event_record_cut_short_is_an_unexpected_message() -> None:
    body = UnitId((0,), (1,)).to_wire() + bytes((1, 0, 0, 1)) + bytes((14, 10, 1, 2))
    with pytest.raises(UnexpectedMessage, match="ERC14 at offset 0: Le 10"):
        _uplink(0x0E, body)


def test_reading_status_and_archive_replies() -> None:
    from protocols.gdw1376 import build_body

    status = {
        "count": 1,
        "ports": [
            {
                "port": 31,
                "meters": 256,
                "status": 0b10,
                "read_ok": 250,
                "key_read_ok": 3,
                "started": datetime(2026, 12, 1, 1, 0, 0),
                "finished": datetime(2026, 12, 1, 1, 42, 7),
            }
        ],
    }
    archive = {"count": 1, "meters": [METER]}
    body = build_body(0x0C, True, [(0, 11, status)])
    assert _uplink(0x0C, body) == [status]
    assert _uplink(0x0A, build_body(0x0A, True, [(0, 10, archive)])) == [archive]


def test_a_current_data_request_for_any_item_carries_no_data() -> None:
    # liangminhua/qgdw376.1.ksy packet-sample/qafn12f167.3761: p1 F167, which has no layout here
    raw = bytes.fromhex(
        "68 4a 00 4a 00 68 4b 71 01 22 08 02 0c e3 01 01 40 14 03 59 21 16 28 00 e9 16"
    )
    (unit,) = parse_units(decode_frame(raw))
    assert (unit.point, unit.item, unit.decoded, unit.raw) == (1, 167, True, b"")


def test_parameters_and_control_through_the_generic_request() -> None:
    from protocols.gdw1376 import request

    uplink = {
        "rts_20ms": 0,
        "master_delay_minutes": 5,
        "timeout_and_retries": 30 | 3 << 12,
        "confirm_flags": 0b011,
        "heartbeat_minutes": 15,
    }
    master = {
        "primary_ip": "10.1.2.3",
        "primary_port": 9001,
        "backup_ip": "10.1.2.4",
        "backup_port": 9002,
        "apn": "CMNET",
    }
    frames = [
        request(TERMINAL, 0x04, [(0, 1, uplink), (0, 3, master)], seq=1, confirm=True),
        request(TERMINAL, 0x0A, [(0, 1, {}), (0, 3, {})], seq=2),
        request(TERMINAL, 0x05, [(1, 1, {"trip_control": 0x12}), (1, 2, {})], seq=3),
    ]
    assert [round_trip(encode(frame)) for frame in frames] == [
        [uplink, master],
        [{}, {}],
        [{"trip_control": 0x12}, {}],
    ]
    assert frames[0].body[:4] == bytes((0, 0, 0b101, 0))  # p0, F1 and F3 in one identifier
    assert [frame.control.function for frame in frames] == [10, 11, 10]
