"""The codec's fast paths (the usual reply taken whole, shared request bytes and control
fields) give exactly what the general paths give, and step aside for anything unusual."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import (
    Address,
    Control,
    Frame,
    FrameDecoder,
    ReadRequest,
    catalogue,
    encode,
)
from protocols.dlt645.exchange import NEED_DATA, Payload, ReadExchange, Reply, Skip, read_request
from protocols.dlt645.frame import shift_data
from protocols.dlt645.messages import ReadResponse
from protocols.dlt645.values import decoder_of

METER = Address.parse("000000000161")
DI = 0x0201FF00
PAYLOAD = bytes.fromhex("1223982205 23".replace(" ", ""))
REPLY = Frame(METER, Control(0x11, from_meter=True), DI.to_bytes(4, "little") + PAYLOAD)
HEAD = bytes((0x68,)) + METER.to_wire() + bytes((0x68, 0x91))


def test_take_whole_returns_the_plain_data_of_one_exact_frame_after_wake_up_bytes() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode(REPLY, preamble=4))
    assert decoder.take_whole(HEAD) == REPLY.data
    assert decoder.pending == 0
    assert decoder.discarded == 0


def test_take_whole_leaves_everything_unusual_to_next_frame() -> None:
    wire = encode(REPLY, preamble=2)
    bad_checksum = bytearray(wire)
    bad_checksum[-2] ^= 0xFF
    other_meter = encode(Frame(Address.parse("000000000162"), REPLY.control, REPLY.data))
    for raw in (
        wire + b"\x00",  # something trails it
        wire[:-1],  # not complete yet
        b"\x00" + wire,  # noise before it
        bytes(bad_checksum),
        other_meter,
        encode(ReadRequest(METER, DI).to_frame()),  # our own request, echoed
    ):
        decoder = FrameDecoder()
        decoder.feed(raw)
        assert decoder.take_whole(HEAD) is None, raw.hex(" ")
        assert decoder.pending == len(raw)  # nothing consumed


def test_a_read_answered_by_the_exact_reply_takes_the_fast_path_with_the_same_event() -> None:
    machine = ReadExchange(METER, DI)
    machine.send()
    machine.receive_data(encode(REPLY))
    assert machine.next_event() == Payload(PAYLOAD, 1)
    assert machine.frame.next_event() == Reply(
        ReadResponse(METER, DI, PAYLOAD, more=False, follow_up=False)
    )


def test_a_late_reply_naming_another_identifier_is_skipped_on_the_fast_path_too() -> None:
    machine = ReadExchange(METER, DI)
    machine.send()
    late = Frame(METER, REPLY.control, (0x02010100).to_bytes(4, "little") + b"\x00\x22")
    machine.receive_data(encode(late))
    assert machine.next_event() is NEED_DATA
    assert machine.frame.skipped == {Skip.OTHER_IDENTIFIER: 1}
    machine.receive_data(encode(REPLY))  # the real reply still comes through
    assert machine.next_event() == Payload(PAYLOAD, 1)


def test_read_request_is_encoded_once_per_meter_and_identifier() -> None:
    frame, wire = read_request(METER, DI, ReadRequest(METER, DI).standard)
    assert frame == ReadRequest(METER, DI).to_frame()
    assert wire == encode(frame)
    assert read_request(METER, DI, ReadRequest(METER, DI).standard)[1] is wire


@given(st.integers(0, 255))
def test_control_from_byte_shares_one_instance_per_byte_with_the_same_fields(value: int) -> None:
    control = Control.from_byte(value)
    assert control is Control.from_byte(value)
    assert control.to_byte() == value


@given(st.binary(max_size=64), st.sampled_from([0x33, -0x33]))
def test_shift_data_adds_or_removes_the_offset_mod_256(data: bytes, offset: int) -> None:
    assert shift_data(data, offset) == bytes((byte + offset) & 0xFF for byte in data)


@given(st.data())
def test_the_per_format_decoder_gives_what_decode_gives(data: st.DataObject) -> None:
    """Every format of the catalogue, on any bytes of its length: digits, 0xFF fill, bad BCD."""
    formats = sorted(
        {part.format for item in catalogue() for part in item.parts},
        key=lambda f: (f.pattern, f.encoding, f.signed),
    )
    value_format = data.draw(st.sampled_from(formats))
    raw = data.draw(
        st.one_of(
            st.binary(min_size=value_format.length, max_size=value_format.length),
            st.just(b"\xff" * value_format.length),
            st.lists(
                st.integers(0, 99).map(lambda n: int(str(n), 16)),
                min_size=value_format.length,
                max_size=value_format.length,
            ).map(bytes),
        )
    )
    fast, slow = decoder_of(value_format)(raw), value_format.decode(raw)
    assert fast == slow
    assert type(fast) is type(slow)


@given(st.data())
def test_a_block_decodes_as_its_members_one_by_one(data: st.DataObject) -> None:
    """The block layout (made once per item) gives each member's own decode, for a full
    block and one cut short."""
    blocks = [item for item in catalogue() if item.is_block and not item.is_record]
    item = data.draw(st.sampled_from(blocks))
    count = data.draw(st.integers(1, len(item.members)))
    size = item.format.length
    raw = data.draw(st.binary(min_size=count * size, max_size=count * size))
    decoded = item.decode(raw)
    assert isinstance(decoded, Mapping)
    assert list(decoded) == list(item.members[:count])
    for index, name in enumerate(item.members[:count]):
        assert decoded[name] == item.format.decode(raw[index * size : (index + 1) * size])
