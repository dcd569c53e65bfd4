"""The dial-in packet filter: DTU packets out, bus bytes through, however the stream is split."""

from __future__ import annotations

import pytest

from transports.packet_filter import PacketFilter

REG = b"DTU-0001"
BEAT = b"HB"
FRAME = bytes.fromhex("68 01 00 00 00 00 00 68 91 08 33 33 34 33 33 33 33 33 4F 16")


def run(chunks: list[bytes]) -> tuple[bytes, PacketFilter]:
    f = PacketFilter([REG, BEAT])
    return b"".join(f.feed(c) for c in chunks), f


def stream() -> bytes:
    return REG + FRAME + BEAT + FRAME[:5] + BEAT + FRAME[5:] + REG + BEAT


def test_whole_stream_loses_packets_keeps_frames() -> None:
    out, f = run([stream()])
    assert out == FRAME + FRAME[:5] + FRAME[5:]
    assert f.counts.of(REG) == 2
    assert f.counts.of(BEAT) == 3
    assert f.held == 0


@pytest.mark.parametrize("cut", range(1, 40))
def test_split_anywhere(cut: int) -> None:
    data = stream()
    out, f = run([data[:cut], data[cut:]])
    assert out == FRAME * 2
    assert f.counts.of(BEAT) == 3


def test_byte_by_byte() -> None:
    data = stream()
    out, f = run([data[i : i + 1] for i in range(len(data))])
    assert out == FRAME * 2
    assert (f.counts.of(REG), f.counts.of(BEAT)) == (2, 3)


def test_frame_end_is_never_held() -> None:
    f = PacketFilter([REG, BEAT])
    assert f.feed(FRAME + b"H") == FRAME
    assert f.held == 1
    assert f.feed(b"X") == b"HX"


def test_packet_with_frame_end_refused() -> None:
    with pytest.raises(ValueError, match="0x16"):
        PacketFilter([b"\x01\x16"])
