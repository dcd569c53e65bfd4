"""When each read is due: interval boundaries, shifted by a per-meter offset, plus jitter.

Reads are stamped with their slot (the interval boundary), not with the moment the bus got to
them, so that every meter's 15-minute energy lines up for billing and completeness can ask
"did slot 10:15 arrive?". The offset spreads a fleet's reads over the start of the interval so
that hundreds of gateways do not all wake at :00; it is derived from the meter id, so a restart
keeps the same rhythm. Jitter is added to the *start* time only, never to the slot stamp.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

MAX_SPREAD = 60.0
"""Offsets stay within the first minute (or half the interval if shorter)."""


def meter_offset(meter_id: str, interval: float, spread: float = MAX_SPREAD) -> float:
    """A stable offset in [0, min(spread, interval/2)) seconds for this meter."""
    window = min(spread, interval / 2)
    digest = hashlib.blake2b(meter_id.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64) * window


def slot_start(at: datetime, interval: float) -> datetime:
    """The interval boundary at or before ``at`` (UTC epoch aligned: 15 min -> :00, :15 ...)."""
    epoch = at.timestamp()
    return datetime.fromtimestamp(math.floor(epoch / interval) * interval, UTC)


def next_slot(after: datetime, interval: float) -> datetime:
    """The first interval boundary strictly after ``after``."""
    return slot_start(after, interval) + timedelta(seconds=interval)


def slots_between(after: datetime, before: datetime, interval: float) -> list[datetime]:
    """The interval boundaries strictly after ``after`` and strictly before ``before``."""
    slots = []
    slot = next_slot(after, interval)
    while slot < before:
        slots.append(slot)
        slot += timedelta(seconds=interval)
    return slots


def is_slot(at: datetime, interval: float) -> bool:
    """Whether ``at`` is an interval boundary (scheduled reads are stamped with one; on-demand
    reads carry the moment they were asked for)."""
    return slot_start(at, interval) == at


class Due(NamedTuple):
    """One scheduled read: the slot it belongs to and the wall time to start it.

    A named tuple, not a frozen dataclass: one is made per slot of every meter, and a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``."""

    slot: datetime
    start_at: datetime


class ReadClock:
    """Yields the due times of one (meter, read spec) pair.

    Deterministic: the jitter of a slot is a hash of the meter id and the slot, so tests,
    simulations and restarts see the same start times. A fleet holds one of these per meter
    and read spec, so it keeps four numbers and no generator of its own (a ``random.Random``
    is 2.5 KiB, and seeding one from a string costs a sha512). ``rng`` replaces the hash where
    a caller wants a sequence of its own.
    """

    __slots__ = ("_lead", "_rng", "_seed", "_step", "interval", "jitter", "offset")

    def __init__(
        self,
        meter_id: str,
        interval: float,
        *,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self.interval = interval
        self.offset = meter_offset(meter_id, interval)
        self.jitter = min(jitter, interval / 4)
        self._seed = _jitter_seed(meter_id) if self.jitter else 0
        self._rng = rng
        # Built once: a timedelta from float seconds costs more than the datetime sum it is for.
        self._step = timedelta(seconds=interval)
        self._lead = timedelta(seconds=self.offset)

    def first_due(self, now: datetime) -> Due:
        """The next slot whose start (slot + offset) is not yet past."""
        slot = slot_start(now, self.interval)
        if slot + self._lead < now:
            slot += self._step
        return self._due(slot)

    def after(self, due: Due) -> Due:
        slot = due.slot + self._step
        if not self.jitter:  # ``_due``'s first case, inline: this runs once per slot
            return Due(slot, slot + self._lead)
        return self._due(slot)

    def _due(self, slot: datetime) -> Due:
        if not self.jitter:
            return Due(slot, slot + self._lead)
        if self._rng is not None:
            extra = self._rng.uniform(0, self.jitter)
        else:
            extra = _unit(self._seed ^ int(slot.timestamp())) * self.jitter
        return Due(slot, slot + timedelta(seconds=self.offset + extra))


_MASK64 = (1 << 64) - 1


def _jitter_seed(meter_id: str) -> int:
    """64 stable bits of the meter id, apart from the ones its offset is taken from."""
    digest = hashlib.blake2b(meter_id.encode(), digest_size=8, person=b"jitter").digest()
    return int.from_bytes(digest, "big")


def _unit(value: int) -> float:
    """``value`` mixed into [0, 1) (splitmix64's finaliser: every input bit moves the result)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (value ^ (value >> 31)) / 2**64
