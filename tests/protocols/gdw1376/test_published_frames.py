"""Frames published by other 1376.1 implementations, decoded verbatim (frames/*.toml).

Each source file is an independent implementation or capture: kylecui/3761_Parser (Wireshark
captures of a real concentrator), liangminhua/qgdw376.1.ksy (packet samples), simpleman1984's
packet.js and baiej214/TmnlHUB. Every frame is decoded whole, split in two at every offset
and byte by byte, re-encoded to the same bytes, and its units compared with what the source
says they carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from protocols.dlt645 import decode_value, parse_response
from protocols.gdw1376 import (
    Frame,
    FrameDecoder,
    MalformedFrame,
    UnexpectedMessage,
    confirm_all,
    decode_frame,
    encode,
    parse_units,
)
from protocols.gdw1376.forwarding import inner_frame
from tests.support.published_frames import Exchange, PublishedFrame, load_frame_sources

SOURCES = load_frame_sources(Path(__file__).parent / "frames")
EXCHANGES = [exchange for source in SOURCES for exchange in source.exchanges]
FRAMES = [(exchange, frame) for exchange in EXCHANGES for frame in exchange.frames]


def exchange_id(exchange: Exchange) -> str:
    return exchange.where.split(":")[0].removesuffix(".toml") + ":" + exchange.name


def frame_id(case: tuple[Exchange, PublishedFrame]) -> str:
    return f"{exchange_id(case[0])}:{case[1].direction}"


def checksum_is_right(raw: bytes) -> bool:
    return sum(raw[6:-2]) % 256 == raw[-2]


def decode_all(chunks: list[bytes]) -> list[Frame]:
    decoder = FrameDecoder()
    frames = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
    assert decoder.discarded == 0
    assert decoder.pending == 0
    return frames


def test_three_independent_sources_at_least() -> None:
    assert len(SOURCES) >= 3
    assert all(source.citation.url.startswith("https://github.com/") for source in SOURCES)
    assert all(len(source.citation.url.split("/")) > 6 for source in SOURCES)  # pinned commit


@pytest.mark.parametrize("case", FRAMES, ids=frame_id)
def test_published_checksum_is_right(case: tuple[Exchange, PublishedFrame]) -> None:
    assert checksum_is_right(case[1].wire)


@pytest.mark.parametrize("case", FRAMES, ids=frame_id)
def test_decodes_whole_split_and_byte_by_byte(case: tuple[Exchange, PublishedFrame]) -> None:
    wire = case[1].wire
    whole = decode_all([wire])
    assert len(whole) == 1
    for cut in range(1, len(wire)):
        assert decode_all([wire[:cut], wire[cut:]]) == whole
    assert decode_all([bytes((byte,)) for byte in wire]) == whole


@pytest.mark.parametrize("case", FRAMES, ids=frame_id)
def test_re_encodes_to_the_published_bytes(case: tuple[Exchange, PublishedFrame]) -> None:
    assert encode(decode_frame(case[1].wire)) == case[1].wire


@pytest.mark.parametrize("exchange", EXCHANGES, ids=exchange_id)
def test_header_is_what_the_source_says(exchange: Exchange) -> None:
    frame = decode_frame(exchange.frames[0].wire)
    assert frame.address.region == exchange.text("region")
    assert frame.address.terminal == exchange.integer("terminal")
    assert frame.afn == exchange.integer("afn")
    if "master" in exchange.stated:
        assert frame.address.master == exchange.integer("master")
    if "seq" in exchange.stated:
        assert frame.seq.number == exchange.integer("seq")
    if "ec" in exchange.stated:
        assert frame.ec is not None
        assert [frame.ec.important, frame.ec.normal] == exchange.integers("ec")
    if "tp" in exchange.stated:
        tp = frame.tp
        assert tp is not None
        fields = [tp.pfc, tp.day, tp.hour, tp.minute, tp.second, tp.delay_minutes]
        assert fields == exchange.integers("tp")


def _shown(value: Any) -> Any:
    return (
        "None" if value is None else (str(value) if not isinstance(value, int | float) else value)
    )


@pytest.mark.parametrize("exchange", [e for e in EXCHANGES if "items" in e.stated], ids=exchange_id)
def test_units_are_what_the_source_says(exchange: Exchange) -> None:
    frame = decode_frame(exchange.frames[0].wire)
    units = parse_units(frame)
    assert [unit.item for unit in units] == exchange.integers("items")
    assert all(unit.decoded for unit in units)
    if "points" in exchange.stated:
        assert [unit.point for unit in units] == exchange.integers("points")
    reply = decode_frame(exchange.reply.wire) if exchange.reply is not None else None
    if reply is not None and reply.afn != 0:  # the data answers the request
        values = parse_units(reply)[0].values
    else:
        values = units[0].values
    stated: dict[str, Any] = exchange.stated.get("unit", {})
    assert {key: _shown(values[key]) for key in stated} == stated
    for key in ("forward_active", "reverse_active"):
        if key in exchange.stated:
            assert [_shown(value) for value in values[key]] == exchange.stated[key]


@pytest.mark.parametrize(
    "exchange", [e for e in EXCHANGES if "reply_afn" in e.stated], ids=exchange_id
)
def test_replies_are_confirmations(exchange: Exchange) -> None:
    assert exchange.reply is not None
    reply = decode_frame(exchange.reply.wire)
    assert reply.afn == exchange.integer("reply_afn")
    assert [unit.item for unit in parse_units(reply)] == exchange.integers("reply_items")
    if "reply_ec" in exchange.stated:
        assert reply.ec is not None
        assert [reply.ec.important, reply.ec.normal] == exchange.integers("reply_ec")


@pytest.mark.parametrize(
    "exchange",
    [e for e in EXCHANGES if e.reply is not None and decode_frame(e.frames[0].wire).afn == 2],
    ids=exchange_id,
)
def test_our_confirmation_of_a_link_test_is_the_published_one(exchange: Exchange) -> None:
    """The master's answer to login, heartbeat and logout, built by us, byte for byte."""
    assert exchange.reply is not None
    received = decode_frame(exchange.frames[0].wire)
    master = decode_frame(exchange.reply.wire).address.master
    assert encode(confirm_all(received, master=master)) == exchange.reply.wire


@pytest.mark.parametrize("exchange", [e for e in EXCHANGES if "erc" in e.stated], ids=exchange_id)
def test_event_records(exchange: Exchange) -> None:
    (unit,) = parse_units(decode_frame(exchange.frames[0].wire))
    (record,) = unit.values["records"]
    assert record["erc"] == exchange.integer("erc")
    if "raw_record" in exchange.stated:
        assert record["raw"] == exchange.text("raw_record")
        assert "month must be in 1..12" in record["problem"]
    else:
        assert str(record["power_off"]) == exchange.text("power_off")
        assert str(record["power_on"]) == exchange.text("power_on")


@pytest.mark.parametrize("exchange", [e for e in EXCHANGES if "di" in e.stated], ids=exchange_id)
def test_forwarded_dlt645_read_through_the_terminal(exchange: Exchange) -> None:
    assert exchange.request is not None
    assert exchange.reply is not None
    (down,) = parse_units(decode_frame(exchange.request.wire))
    (up,) = parse_units(decode_frame(exchange.reply.wire))
    assert down.values["port"] == up.values["port"] == exchange.integer("port")
    asked = inner_frame(down.values["frame"])
    assert str(asked.address) == exchange.text("meter")
    reply = parse_response(inner_frame(up.values["frame"]))
    assert reply.di == exchange.integer("di")  # type: ignore[union-attr]
    decoded = decode_value(reply.di, reply.payload)  # type: ignore[union-attr]
    assert decoded == exchange.number("value")


@pytest.mark.parametrize(
    "exchange", [e for e in EXCHANGES if "units_problem" in e.stated], ids=exchange_id
)
def test_non_standard_units_are_reported_not_guessed(exchange: Exchange) -> None:
    frame = decode_frame(exchange.frames[0].wire)
    with pytest.raises(UnexpectedMessage, match=exchange.text("units_problem")):
        parse_units(frame)


def test_every_published_frame_in_one_stream_with_noise_between() -> None:
    """A DTU's registration string and line noise between frames: each frame still comes out."""
    wires = [frame.wire for _, frame in FRAMES]
    stream = b"".join(b"IMEI860000000000001\xfe\x68\x00" + wire for wire in wires)
    decoder = FrameDecoder()
    decoder.feed(stream)
    frames = []
    while True:
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            continue
        if frame is None:
            break
        frames.append(encode(frame))
    assert frames == wires
    assert decoder.discarded == len(wires) * len(b"IMEI860000000000001\xfe\x68\x00")
