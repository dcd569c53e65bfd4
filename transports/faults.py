"""Fault injection for in-memory links: what can go wrong on a wire, on demand and repeatably.

An injector sits on one direction of a link and turns each write into a delivery plan.
Faults are scripted per write (``at_write``/``next_write``), applied to every write, or drawn
at random from a seeded generator, so a failing test replays exactly.

Faults on one write are applied in a fixed order whatever order they are given in: payload
edits (``ReplaceBytes``, ``FlipBits``, ``Truncate``, ``Duplicate``), then ``Drop``, then
shaping in time (``Split``, ``Delay``), then ``Disconnect`` after whatever was delivered.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Self, TypeVar

F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Drop:
    """The bytes of this write never arrive (noise ate the frame, meter did not answer)."""


@dataclass(frozen=True, slots=True)
class Delay:
    """The bytes arrive ``seconds`` late (slow meter, cellular gateway latency).

    Later writes queue behind it: a link is a stream and never reorders.
    """

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 0:
            raise ValueError(f"Delay: seconds must be >= 0, got {self.seconds}")


@dataclass(frozen=True, slots=True)
class FlipBits:
    """Flip ``count`` bits at seeded random positions (line noise; checksums must catch it)."""

    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"FlipBits: count must be >= 1, got {self.count}")


@dataclass(frozen=True, slots=True)
class ReplaceBytes:
    """Overwrite the payload at ``offset`` with ``data`` (a precise, hand-made corruption)."""

    offset: int
    data: bytes

    def __post_init__(self) -> None:
        if self.offset < 0 or not self.data:
            raise ValueError(
                f"ReplaceBytes: need offset >= 0 and some data, got {self.offset}, {self.data!r}"
            )


@dataclass(frozen=True, slots=True)
class Truncate:
    """Deliver only the first ``keep`` bytes (a reply cut short)."""

    keep: int

    def __post_init__(self) -> None:
        if self.keep < 0:
            raise ValueError(f"Truncate: keep must be >= 0, got {self.keep}")


@dataclass(frozen=True, slots=True)
class Split:
    """Deliver in chunks of ``chunk_size`` bytes with ``gap`` seconds between them.

    Decoders must reassemble frames from arbitrary pieces; ``chunk_size=1`` is the worst case.
    """

    chunk_size: int = 1
    gap: float = 0.0

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or not self.gap >= 0:
            raise ValueError(
                f"Split: need chunk_size >= 1 and gap >= 0, got {self.chunk_size}, {self.gap}"
            )


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The payload arrives ``copies`` extra times (a repeater or gateway echoing a frame)."""

    copies: int = 1

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ValueError(f"Duplicate: copies must be >= 1, got {self.copies}")


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The link goes down after this write's bytes (if any) are delivered."""


Fault = Drop | Delay | FlipBits | ReplaceBytes | Truncate | Split | Duplicate | Disconnect
Corrupt = FlipBits | ReplaceBytes


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes delivered ``gap`` seconds after the previous chunk of the same direction."""

    gap: float
    data: bytes


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """What one write turns into on the far side."""

    chunks: tuple[Chunk, ...]
    disconnect: bool = False

    @property
    def payload(self) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks)


@dataclass(frozen=True, slots=True)
class _RandomFault:
    probability: float
    faults: tuple[Fault, ...]


@dataclass
class FaultInjector:
    """Turns writes on one direction of a link into delivery plans; deterministic per seed."""

    seed: int | str = 0
    writes_seen: int = 0
    history: list[tuple[int, tuple[Fault, ...]]] = field(default_factory=list)
    """(write index, faults applied) for every write that had any; for test diagnostics."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._scripted: defaultdict[int, list[Fault]] = defaultdict(list)
        self._always: list[Fault] = []
        self._random: list[_RandomFault] = []

    def at_write(self, index: int, *faults: Fault) -> Self:
        """Apply ``faults`` to the write with this 0-based index on this direction."""
        if index < self.writes_seen:
            raise ValueError(f"at_write: write {index} has already happened")
        self._scripted[index].extend(faults)
        return self

    def next_write(self, *faults: Fault) -> Self:
        """Apply ``faults`` to the next write on this direction."""
        return self.at_write(self.writes_seen, *faults)

    def every_write(self, *faults: Fault) -> Self:
        """Apply ``faults`` to every write from now on."""
        self._always.extend(faults)
        return self

    def randomly(self, probability: float, *faults: Fault) -> Self:
        """Apply ``faults`` to each write with ``probability``, drawn from the seeded generator."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"randomly: probability must be in [0, 1], got {probability}")
        self._random.append(_RandomFault(probability, faults))
        return self

    def clear(self) -> None:
        """Remove every scripted, permanent and random fault (the seeded state carries on)."""
        self._scripted.clear()
        self._always.clear()
        self._random.clear()

    def plan(self, data: bytes) -> DeliveryPlan:
        """Consume one write index and decide what ``data`` becomes on the far side."""
        index = self.writes_seen
        self.writes_seen += 1
        faults = [*self._scripted.pop(index, ()), *self._always]
        for rule in self._random:
            if self._rng.random() < rule.probability:
                faults.extend(rule.faults)
        if faults:
            self.history.append((index, tuple(faults)))
        return self._apply(data, faults)

    def _apply(self, data: bytes, faults: Iterable[Fault]) -> DeliveryPlan:
        faults = list(faults)
        payload = bytearray(data)
        for fault in _of(faults, ReplaceBytes):
            end = fault.offset + len(fault.data)
            if end > len(payload):
                raise ValueError(
                    f"ReplaceBytes at {fault.offset}..{end} is beyond a {len(payload)}-byte write"
                )
            payload[fault.offset : end] = fault.data
        for flip in _of(faults, FlipBits):
            if payload:
                for _ in range(flip.count):
                    bit = self._rng.randrange(len(payload) * 8)
                    payload[bit // 8] ^= 1 << (bit % 8)
        for truncate in _of(faults, Truncate):
            del payload[truncate.keep :]
        copies = sum(duplicate.copies for duplicate in _of(faults, Duplicate))
        payload = payload * (copies + 1)
        if _of(faults, Drop):
            payload.clear()
        chunk_size, gap = len(payload) or 1, 0.0
        for split in _of(faults, Split):
            chunk_size, gap = split.chunk_size, split.gap
        delay = sum(item.seconds for item in _of(faults, Delay))
        chunks = tuple(
            Chunk(gap=delay if start == 0 else gap, data=bytes(payload[start : start + chunk_size]))
            for start in range(0, len(payload), chunk_size)
        )
        return DeliveryPlan(chunks=chunks, disconnect=bool(_of(faults, Disconnect)))


def _of(faults: list[Fault], kind: type[F]) -> list[F]:
    return [fault for fault in faults if isinstance(fault, kind)]
