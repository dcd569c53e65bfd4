"""Frames published by other DL/T 645 users, decoded verbatim.

The frames live in ``frames/``, one TOML file per source with its citation, copied exactly as
printed there, request and reply (tests/support/published_frames.py). Before trusting a frame
the test recomputes its checksum by hand (``checksum_is_right``): a wrong published checksum
would be reported here rather than silently "fixed". Every frame in the files was checked this
way and is correct. One source's own annotation is wrong (the manualshive file says where).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.dlt645 import (
    Address,
    Frame,
    FrameDecoder,
    ReadRequest,
    ReadResponse,
    Standard,
    decode_value,
    encode,
    encode_value,
    parse_request,
    parse_response,
)
from tests.support.published_frames import (
    Exchange,
    FrameFileError,
    PublishedFrame,
    load_frame_source,
    load_frame_sources,
)

SOURCES = load_frame_sources(Path(__file__).parent / "frames")
EXCHANGES = [exchange for source in SOURCES for exchange in source.exchanges]
FRAMES = [(exchange, frame) for exchange in EXCHANGES for frame in exchange.frames]
REQUESTS = [exchange for exchange in EXCHANGES if exchange.request is not None]
REPLIES = [exchange for exchange in EXCHANGES if exchange.reply is not None]
PAIRS = [exchange for exchange in REQUESTS if exchange.reply is not None]
STANDARDS = {2007: Standard.DLT645_2007, 1997: Standard.DLT645_1997}


def exchange_id(exchange: Exchange) -> str:
    return exchange.where.split(":")[0].removesuffix(".toml") + ":" + exchange.name


def frame_id(case: tuple[Exchange, PublishedFrame]) -> str:
    exchange, frame = case
    return f"{exchange_id(exchange)}:{frame.direction}"


def standard(exchange: Exchange) -> Standard:
    return STANDARDS[exchange.integer("standard")]


def meter(exchange: Exchange) -> Address:
    return Address.parse(exchange.text("address"))


def checksum_is_right(raw: bytes) -> bool:
    body = raw[raw.index(0x68) : -2]
    return sum(body) % 256 == raw[-2]


def decode_one(raw: bytes) -> Frame:
    decoder = FrameDecoder()
    decoder.feed(raw)
    frame = decoder.next_frame()
    assert frame is not None
    assert decoder.next_frame() is None
    assert decoder.discarded == 0
    return frame


def test_every_source_file_is_cited_and_holds_frames() -> None:
    assert [source.path.name for source in SOURCES] == [
        "hwhale-138066.toml",
        "kaledl-1493168.toml",
        "luatdoc-572.toml",
        "manualshive-heyuan-asdu-ls.toml",
    ]
    assert all(source.citation.url.startswith("https://") for source in SOURCES)
    assert len(FRAMES) == 12
    assert len(PAIRS) == 4  # request and reply both printed


@pytest.mark.parametrize("case", FRAMES, ids=frame_id)
def test_published_checksum_verified_by_hand(case: tuple[Exchange, PublishedFrame]) -> None:
    exchange, frame = case
    assert checksum_is_right(frame.wire), f"wrong checksum in {exchange.where}: {frame.text}"


@pytest.mark.parametrize("case", FRAMES, ids=frame_id)
def test_published_frame_whole_split_and_byte_by_byte(
    case: tuple[Exchange, PublishedFrame],
) -> None:
    raw = case[1].wire
    whole = decode_one(raw)
    for cut in range(1, len(raw)):
        decoder = FrameDecoder()
        decoder.feed(raw[:cut])
        first = decoder.next_frame()
        decoder.feed(raw[cut:])
        assert (first or decoder.next_frame()) == whole
    decoder = FrameDecoder()
    frames = []
    for byte in raw:
        decoder.feed(bytes([byte]))
        frame = decoder.next_frame()
        if frame is not None:
            frames.append(frame)
    assert frames == [whole]


@pytest.mark.parametrize("case", FRAMES, ids=frame_id)
def test_published_frame_re_encodes_to_the_same_bytes(
    case: tuple[Exchange, PublishedFrame],
) -> None:
    raw = case[1].wire
    preamble = raw.index(0x68)
    assert encode(decode_one(raw), preamble=preamble) == raw


@pytest.mark.parametrize("exchange", REQUESTS, ids=exchange_id)
def test_published_request_is_the_read_our_builder_writes(exchange: Exchange) -> None:
    assert exchange.request is not None
    raw = exchange.request.wire
    request = parse_request(decode_one(raw))
    wanted = ReadRequest(meter(exchange), exchange.integer("di"), standard(exchange))
    assert request == wanted
    assert encode(wanted.to_frame(), preamble=raw.index(0x68)) == raw


@pytest.mark.parametrize("exchange", REPLIES, ids=exchange_id)
def test_published_reply_decodes_to_the_stated_value_and_our_builder_writes_it(
    exchange: Exchange,
) -> None:
    assert exchange.reply is not None
    raw = exchange.reply.wire
    edition = standard(exchange)
    reply = parse_response(decode_one(raw))
    assert isinstance(reply, ReadResponse)
    assert (reply.address, reply.di, reply.standard) == (
        meter(exchange),
        exchange.integer("di"),
        edition,
    )
    stated = exchange.number("value")
    value = decode_value(reply.di, reply.payload, edition)
    if isinstance(stated, int):
        assert value == stated
    else:
        assert value == pytest.approx(stated)
    payload = encode_value(reply.di, stated, edition)
    built = ReadResponse(meter(exchange), reply.di, payload, standard=edition)
    assert encode(built.to_frame(), preamble=raw.index(0x68)) == raw


@pytest.mark.parametrize("exchange", PAIRS, ids=exchange_id)
def test_a_published_conversation_in_one_stream(exchange: Exchange) -> None:
    """Request and reply as a sniffer on the bus sees them, with noise between."""
    assert exchange.request is not None
    assert exchange.reply is not None
    decoder = FrameDecoder()
    decoder.feed(exchange.request.wire + b"\x00\xff" + exchange.reply.wire)
    first, second = decoder.next_frame(), decoder.next_frame()
    assert first is not None
    assert second is not None
    assert not first.control.from_meter
    assert second.control.from_meter
    assert decoder.discarded == 2


def test_a_frames_file_with_bad_hex_is_named_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[source]\nurl = "https://example.org/frames"\n\n'
        '[[exchanges]]\nname = "read"\nrequest = "68 6G 16"\n',
        encoding="utf-8",
    )
    with pytest.raises(FrameFileError, match=r"bad\.toml: exchanges\[0\] \(read\): request"):
        load_frame_source(path)


def test_a_frames_file_without_a_citation_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "uncited.toml"
    path.write_text('[[exchanges]]\nname = "read"\nreply = "68 16"\n', encoding="utf-8")
    with pytest.raises(FrameFileError, match=r"uncited\.toml: no \[source\] table"):
        load_frame_source(path)


def test_a_stated_value_of_the_wrong_kind_is_named(tmp_path: Path) -> None:
    path = tmp_path / "odd.toml"
    path.write_text(
        '[source]\nurl = "https://example.org/frames"\n\n'
        '[[exchanges]]\nname = "read"\nreply = "68 16"\ndi = "00010000"\n',
        encoding="utf-8",
    )
    [exchange] = load_frame_source(path).exchanges
    with pytest.raises(
        FrameFileError, match=r"odd\.toml: exchanges\[0\] \(read\): di: expected int"
    ):
        exchange.integer("di")
    with pytest.raises(FrameFileError, match=r"\(read\): no 'value' stated"):
        exchange.number("value")
