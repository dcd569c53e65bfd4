"""How replies sound on the line: encoding, wire faults, timing, and collisions.

RS-485 is half-duplex: a reply occupies the line for ``wire_time(len(bytes))`` seconds from
its start. Two replies that overlap in time (a wildcard read with several meters on the bus)
drive the line at once; the master then receives neither frame but a mix of both, which we
model as a bytewise AND where they overlap (a dominant-zero line), so checksums fail as they
would on a real bus.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.dlt645 import Address, Frame, encode
from simulators.dlt645.faults import (
    CorruptChecksum,
    GarbageBytes,
    SlowReply,
    WireFault,
    WrongAddress,
    first,
)
from transports import SerialSettings, wire_time

_CHECKSUM_FROM_END = 2


@dataclass(frozen=True, slots=True)
class Burst:
    """Bytes put on the line starting at ``start`` (event-loop time, seconds)."""

    start: float
    data: bytes
    senders: tuple[str, ...]

    def duration(self, settings: SerialSettings) -> float:
        """How long the burst occupies the line: exactly ``wire_time`` of its bytes."""
        return wire_time(len(self.data), settings)

    def end(self, settings: SerialSettings) -> float:
        return self.start + self.duration(settings)

    @property
    def collided(self) -> bool:
        return len(self.senders) > 1


def shape_reply(
    reply: Frame, faults: Sequence[WireFault], preamble: int, rng: random.Random
) -> tuple[bytes, float]:
    """The reply's bytes with wire faults applied, and the extra delay (s) before it."""
    wrong = first(faults, WrongAddress)
    if wrong is not None:
        reply = Frame(Address.parse(wrong.address), reply.control, reply.data)
    data = bytearray(encode(reply, preamble=preamble))
    if first(faults, CorruptChecksum) is not None:
        data[-_CHECKSUM_FROM_END] = (data[-_CHECKSUM_FROM_END] + 1) & 0xFF
    garbage = first(faults, GarbageBytes)
    if garbage is not None:
        data[:0] = bytes(rng.randrange(256) for _ in range(garbage.length))
    slow = first(faults, SlowReply)
    return bytes(data), 0.0 if slow is None else slow.delay_ms / 1000.0


def merge_collisions(bursts: Iterable[Burst], settings: SerialSettings) -> list[Burst]:
    """Bursts in start order, overlapping ones merged into one garbled burst."""
    merged: list[Burst] = []
    for burst in sorted(bursts, key=lambda b: b.start):
        if merged and burst.start < merged[-1].end(settings):
            merged[-1] = _collide(merged[-1], burst, settings)
        else:
            merged.append(burst)
    return merged


def _collide(earlier: Burst, later: Burst, settings: SerialSettings) -> Burst:
    offset = round((later.start - earlier.start) / settings.char_time)
    mixed = bytearray(earlier.data)
    mixed.extend(b"\xff" * max(0, offset + len(later.data) - len(mixed)))
    for i, byte in enumerate(later.data):
        mixed[offset + i] &= byte
    return Burst(earlier.start, bytes(mixed), earlier.senders + later.senders)
