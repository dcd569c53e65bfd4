"""Frame encoding and the stream decoder: whole, split, byte by byte, noise and bad frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import (
    Address,
    AddressFieldError,
    ChecksumError,
    Control,
    EncodeError,
    EndByteError,
    Frame,
    FrameDecoder,
    LengthError,
    MalformedFrame,
    encode,
)
from protocols.errors import RemoteProtocolError

METER = Address.parse("123456789012")
FRAME = Frame(METER, Control(0x11), bytes([0x00, 0x00, 0x01, 0x00]))


def decode_all(decoder: FrameDecoder) -> list[Frame]:
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def checksum(raw: bytes) -> int:
    return sum(raw) % 256


addresses = st.text(alphabet="0123456789", min_size=12, max_size=12).map(Address.parse)
controls = st.builds(
    Control,
    function=st.integers(0, 0x1F),
    from_meter=st.booleans(),
    error=st.booleans(),
    more=st.booleans(),
)
frames = st.builds(Frame, addresses, controls, st.binary(max_size=200))


def test_encode_lays_out_the_frame_by_hand() -> None:
    wire = encode(FRAME)
    body = bytes([0x68, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x68, 0x11, 0x04])
    body += bytes([0x33, 0x33, 0x34, 0x33])
    assert wire == b"\xfe" * 4 + body + bytes([checksum(body), 0x16])


def test_preamble_length_is_chosen_and_bounded() -> None:
    assert encode(FRAME, preamble=0)[0] == 0x68
    assert encode(FRAME, preamble=2)[:3] == b"\xfe\xfe\x68"
    with pytest.raises(EncodeError, match="preamble"):
        encode(FRAME, preamble=5)


def test_data_longer_than_the_length_byte_is_rejected() -> None:
    with pytest.raises(EncodeError, match="256 bytes"):
        Frame(METER, Control(0x11), bytes(256))


@given(frames, st.integers(0, 4))
def test_encode_decode_round_trip(frame: Frame, preamble: int) -> None:
    decoder = FrameDecoder(max_data_length=255)
    decoder.feed(encode(frame, preamble))
    assert decode_all(decoder) == [frame]
    assert decoder.discarded == 0
    assert decoder.pending == 0


def test_every_split_point_gives_the_same_frame() -> None:
    wire = encode(FRAME)
    for cut in range(len(wire) + 1):
        decoder = FrameDecoder()
        decoder.feed(wire[:cut])
        first = decode_all(decoder)
        decoder.feed(wire[cut:])
        assert first + decode_all(decoder) == [FRAME], f"split at {cut}"


def test_byte_by_byte_yields_the_frame_only_at_the_end_byte() -> None:
    wire = encode(FRAME)
    decoder = FrameDecoder()
    seen: list[Frame] = []
    for index, byte in enumerate(wire):
        decoder.feed(bytes([byte]))
        got = decode_all(decoder)
        if index < len(wire) - 1:
            assert got == [], f"frame too early at byte {index}"
        seen += got
    assert seen == [FRAME]


def test_noise_is_skipped_and_counted_but_preambles_are_not() -> None:
    noise = bytes([0x00, 0x16, 0x68, 0x01, 0x55, 0x68, 0x00, 0x00])  # lone 0x68s are noise
    decoder = FrameDecoder()
    decoder.feed(noise + encode(FRAME, preamble=0) + b"\xfe\xfe" + encode(FRAME, preamble=0))
    assert decode_all(decoder) == [FRAME, FRAME]
    assert decoder.discarded == len(noise)


def test_stray_start_byte_before_a_frame_does_not_hold_the_frame_back() -> None:
    """68 seven bytes before the real start looks like a header announcing a long frame."""
    decoder = FrameDecoder()
    decoder.feed(bytes([0x68, 0x01, 0x55]) + encode(FRAME))
    assert decode_all(decoder) == [FRAME]
    assert decoder.pending == 0


def test_address_bytes_equal_to_0x68_do_not_confuse_the_decoder() -> None:
    frame = Frame(Address.parse("686868686868"), Control(0x11), b"\x68\x68")
    decoder = FrameDecoder()
    decoder.feed(b"\x68\x68" + encode(frame))
    assert decode_all(decoder) == [frame]


def corrupt(wire: bytes, index: int, value: int) -> bytes:
    raw = bytearray(wire)
    raw[index] = value
    return bytes(raw)


BARE = encode(FRAME, preamble=0)
BAD_FRAMES = [
    pytest.param(corrupt(BARE, -2, (BARE[-2] + 1) % 256), ChecksumError, id="checksum"),
    pytest.param(corrupt(BARE, -1, 0x17), EndByteError, id="end-byte"),
    pytest.param(corrupt(BARE, 9, 201), LengthError, id="length"),
]


@pytest.mark.parametrize(("bad", "error"), BAD_FRAMES)
def test_malformed_frame_raises_typed_error_then_finds_the_next_frame(
    bad: bytes, error: type[MalformedFrame]
) -> None:
    decoder = FrameDecoder()
    decoder.feed(bad + encode(FRAME))
    with pytest.raises(error) as caught:
        decode_all(decoder)
    assert caught.value.raw == bad[: len(caught.value.raw)]
    assert caught.value.raw[:4].hex(" ") in str(caught.value)
    assert decode_resilient(decoder) == [FRAME]
    assert decoder.discarded >= len(bad)


def decode_resilient(decoder: FrameDecoder) -> list[Frame]:
    """What a bus worker does: count malformed frames and keep going.

    The rest of a bad frame may itself look like a (bad) header: e.g. its second 0x68.
    """
    frames: list[Frame] = []
    for _ in range(1000):
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            continue
        if frame is None:
            return frames
        frames.append(frame)
    raise AssertionError("decoder does not make progress")


def test_address_field_that_is_not_bcd_is_malformed() -> None:
    body = bytes([0x68, 0x1F, 0, 0, 0, 0, 0, 0x68, 0x11, 0x00])
    decoder = FrameDecoder()
    decoder.feed(body + bytes([checksum(body), 0x16]) + BARE)
    with pytest.raises(AddressFieldError, match="1f 00"):
        decoder.next_frame()
    assert decode_all(decoder) == [FRAME]


def test_length_error_is_raised_before_the_long_body_arrives() -> None:
    decoder = FrameDecoder(max_data_length=10)
    decoder.feed(corrupt(BARE, 9, 11)[:10])
    with pytest.raises(LengthError, match="11 exceeds the limit of 10"):
        decoder.next_frame()


def test_malformed_frames_are_remote_errors() -> None:
    assert issubclass(MalformedFrame, RemoteProtocolError)


def test_clear_discards_a_partial_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(BARE[:8])
    assert decoder.next_frame() is None
    decoder.clear()
    assert decoder.pending == 0
    assert decoder.discarded == 8
    decoder.feed(BARE)
    assert decode_all(decoder) == [FRAME]


@given(st.binary(max_size=60), frames, st.binary(max_size=60))
def test_good_frame_survives_any_leading_noise(noise: bytes, frame: Frame, trailing: bytes) -> None:
    """Whatever precedes it, a good frame is found (noise may raise, never loses it)."""
    decoder = FrameDecoder()
    decoder.feed(noise + encode(frame) + trailing)
    assert frame in decode_resilient(decoder)


def test_many_frames_byte_by_byte_after_compaction() -> None:
    wire = (b"\x00" * 50 + encode(FRAME)) * 120
    decoder = FrameDecoder()
    count = 0
    for byte in wire:
        decoder.feed(bytes([byte]))
        count += len(decode_all(decoder))
    assert count == 120
    assert decoder.discarded == 50 * 120
