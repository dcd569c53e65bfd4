"""``--raw`` output: the link's traffic as whole DL/T 645 frames, not as the chunks TCP delivered.

A gateway passes the RS-485 bytes on as they trickle in, so one reply can arrive as a dozen
reads; an engineer comparing with a protocol analyser wants one line per frame. Each run of
same-direction chunks goes through the codec's own stream decoder, so what is printed as a
frame is exactly what the head-end accepted as one; bytes that never formed a frame (noise, a
malformed or cut-off frame) are printed too, with the reason, rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from headend.bus.link import Direction, TrafficRecord
from protocols.dlt645 import FrameDecoder, MalformedFrame, encode


@dataclass(frozen=True, slots=True)
class WireFrame:
    """One frame (or one stretch of bytes that is not a frame) in one direction."""

    at: datetime
    """When the chunk that completed it arrived (or was sent)."""
    direction: Direction
    data: bytes
    """The frame from its first 0x68 to its 0x16; wake-up 0xFE bytes are left out."""
    problem: str | None = None
    """Why ``data`` is not a frame: malformed, incomplete, or skipped noise."""


def reassemble(records: Iterable[TrafficRecord]) -> list[WireFrame]:
    """Whole frames in the order they went over the line."""
    frames: list[WireFrame] = []
    run: list[TrafficRecord] = []
    for record in records:
        if run and record.direction is not run[0].direction:
            frames.extend(_decode_run(run))
            run = []
        run.append(record)
    if run:
        frames.extend(_decode_run(run))
    return frames


def _decode_run(run: list[TrafficRecord]) -> Iterator[WireFrame]:
    decoder = FrameDecoder()
    direction = run[0].direction
    for record in run:
        decoder.feed(record.data)
        discarded = decoder.discarded
        while True:
            try:
                frame = decoder.next_frame()
            except MalformedFrame as exc:
                yield WireFrame(record.at, direction, exc.raw, exc.problem)
                continue
            if frame is None:
                break
            yield WireFrame(record.at, direction, encode(frame, preamble=0))
        noise = decoder.discarded - discarded
        if noise:
            yield WireFrame(record.at, direction, b"", f"{noise} bytes of noise skipped")
    if decoder.pending:
        leftover = _pending_bytes(run, decoder.pending)
        yield WireFrame(run[-1].at, direction, leftover, "incomplete frame")


def _pending_bytes(run: list[TrafficRecord], count: int) -> bytes:
    """The last ``count`` bytes of the run: what the decoder still holds."""
    data = b"".join(record.data for record in run)
    return data[len(data) - count :]
