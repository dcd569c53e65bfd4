"""Strips a dial-in DTU's own packets (registration, heartbeat) out of its byte stream.

A cellular DTU that dials in interleaves its registration and heartbeat packets with the
transparent bytes of the bus behind it, at any point and split across TCP segments as the
network pleases. The bus protocol's decoder must see the bus bytes only, so this sans-IO filter
sits between the socket and the decoder: ``feed`` takes what arrived and returns what is bus
data, holding back a tail that may still turn out to be the start of a packet.

Holding back is safe only if it never holds the end of a reply the bus worker waits for; a
DL/T 645 frame ends with 0x16, so packets may not contain that byte (the fleet file refuses
them), and a held tail is then never the end of a frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FRAME_END = 0x16
"""The last byte of every DL/T 645 frame; no packet may contain it (see the module docstring)."""


@dataclass(slots=True)
class PacketCounts:
    """How many of each packet the filter removed from the stream."""

    by_packet: dict[bytes, int]

    def of(self, packet: bytes) -> int:
        return self.by_packet.get(packet, 0)


class PacketFilter:
    """Removes every whole occurrence of the given packets from a byte stream, however split."""

    def __init__(self, packets: Iterable[bytes]) -> None:
        self.packets = tuple(sorted({p for p in packets if p}, key=len, reverse=True))
        for packet in self.packets:
            if FRAME_END in packet:
                raise ValueError(
                    f"packet {packet.hex(' ')} contains 0x16, the DL/T 645 frame end byte: the "
                    "filter could hold back the end of a reply"
                )
        self._prefixes = {p[:n] for p in self.packets for n in range(1, len(p))}
        self._longest = max((len(p) for p in self.packets), default=0)
        self._held = bytearray()
        self.counts = PacketCounts({p: 0 for p in self.packets})

    @property
    def held(self) -> int:
        """Bytes held back as a possible start of a packet."""
        return len(self._held)

    def reset(self) -> None:
        """Forget a held tail (its connection is gone; a new one starts afresh)."""
        self._held.clear()

    def feed(self, data: bytes) -> bytes:
        """The bus bytes among the held tail and ``data``; a possible packet start is kept."""
        if not self.packets:
            return data
        buffer = self._held + data
        out = bytearray()
        start = 0  # bytes before ``start`` are decided
        i = 0
        end = len(buffer)
        while i < end:
            matched = self._match_at(buffer, i)
            if matched is not None:
                out += buffer[start:i]
                self.counts.by_packet[matched] += 1
                i += len(matched)
                start = i
                continue
            if self._could_start_at(buffer, i):
                break  # the rest may still complete a packet: hold it back
            i += 1
        out += buffer[start:i]
        self._held = buffer[i:]
        return bytes(out)

    def _match_at(self, buffer: bytearray, i: int) -> bytes | None:
        for packet in self.packets:  # longest first
            if buffer.startswith(packet, i):
                return packet
        return None

    def _could_start_at(self, buffer: bytearray, i: int) -> bool:
        """The bytes from ``i`` to the end are a proper prefix of some packet."""
        if len(buffer) - i >= self._longest:
            return False
        return bytes(buffer[i:]) in self._prefixes
