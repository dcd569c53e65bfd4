"""Wire faults as data: what a meter or the bus does wrong, and during which simulated window.

Faults are frozen dataclasses so a scenario, a test and a demo can script the same bad day.
Windows are in simulated UTC time (the bus's clock callable), so a warped demo clock moves
faults along with everything else. ``FaultPlan`` is the only thing the bus asks; the community
adapter implements it on top of ``simulators.community.faults.FaultSchedule``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from simulators.dlt645.behaviours import Behaviour
from simulators.dlt645.errors import SimulatorConfigError

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class NoReply:
    """The meter hears nothing (dead, unplugged, wrong baud): no reply, no side effects."""


@dataclass(frozen=True, slots=True)
class SlowReply:
    """Extra delay before the reply, on top of the meter's normal reply delay."""

    delay_ms: float

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise SimulatorConfigError(f"slow_reply: delay_ms {self.delay_ms} must be >= 0")


@dataclass(frozen=True, slots=True)
class CorruptChecksum:
    """The reply's checksum byte is wrong (line noise inside the frame)."""


@dataclass(frozen=True, slots=True)
class GarbageBytes:
    """Seeded noise bytes on the line just before the reply (a neighbour's echo, a spike)."""

    length: int = 8

    def __post_init__(self) -> None:
        if self.length < 1:
            raise SimulatorConfigError(f"garbage_bytes: length {self.length} must be >= 1")


@dataclass(frozen=True, slots=True)
class WrongAddress:
    """The reply carries another address (a misconfigured or cross-wired meter)."""

    address: str = "000000000000"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """The meter refuses every addressed request with this error word."""

    error_word: int

    def __post_init__(self) -> None:
        if not 0 <= self.error_word <= 0xFF:
            raise SimulatorConfigError(f"error_response: error word {self.error_word} not 0..255")


@dataclass(frozen=True, slots=True)
class ClockDrift:
    """The meter's clock runs fast (positive) or slow by this many seconds per day."""

    seconds_per_day: float


@dataclass(frozen=True, slots=True)
class MissingFrozen:
    """The meter has no daily frozen record for these (meter-local) days."""

    days: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class MeterReplaced:
    """A new meter with ``new_address`` hangs where the old one was; the old address is gone."""

    new_address: str

    def __post_init__(self) -> None:
        if len(self.new_address) != 12 or not self.new_address.isdigit():
            raise SimulatorConfigError(
                f"meter_replaced: new_address {self.new_address!r} must be 12 digits"
            )


@dataclass(frozen=True, slots=True)
class GatewayDisconnect:
    """The TCP gateway in front of the bus drops its client and refuses new ones."""


WireFault = (
    NoReply
    | SlowReply
    | CorruptChecksum
    | GarbageBytes
    | WrongAddress
    | ErrorReply
    | ClockDrift
    | MissingFrozen
    | MeterReplaced
    | GatewayDisconnect
    | Behaviour
)
"""Interoperability quirks (``simulators.dlt645.behaviours``) are scheduled the same way."""
F = TypeVar("F", bound=WireFault)


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A fault, who it hits (a meter id, or None for the whole bus) and its time window.

    ``start``/``end`` of None mean "from the beginning"/"for ever"; start inclusive, end
    exclusive, both timezone-aware.
    """

    fault: WireFault
    meter: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and moment.tzinfo is None:
                raise SimulatorConfigError(f"{self.fault}: {name} must be timezone-aware")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise SimulatorConfigError(f"{self.fault}: end {self.end} is not after {self.start}")

    def covers(self, moment: datetime) -> bool:
        if self.start is not None and moment < self.start:
            return False
        return self.end is None or moment < self.end

    def overlap_seconds(self, begin: datetime, finish: datetime) -> float:
        """Seconds of [begin, finish) inside the window (for drift integration)."""
        lo = begin if self.start is None else max(begin, self.start)
        hi = finish if self.end is None else min(finish, self.end)
        return max(0.0, (hi - lo).total_seconds())


class FaultPlan(Protocol):
    """What the bus asks about faults; scripted here or adapted from a community scenario."""

    def for_meter(self, meter_id: str) -> Sequence[ScheduledFault]:
        """Every fault reaching ``meter_id`` at any time (meter-level and bus-wide ones)."""
        ...

    def for_bus(self) -> Sequence[ScheduledFault]:
        """Faults aimed at the bus itself (gateway_disconnect and bus-wide meter faults)."""
        ...


class FaultScript:
    """A plain list of scheduled faults: the ``FaultPlan`` tests and demos write by hand."""

    def __init__(self, faults: Iterable[ScheduledFault] = ()) -> None:
        self._faults = tuple(faults)

    def for_meter(self, meter_id: str) -> Sequence[ScheduledFault]:
        return tuple(f for f in self._faults if f.meter in (None, meter_id))

    def for_bus(self) -> Sequence[ScheduledFault]:
        return tuple(f for f in self._faults if f.meter is None)


NO_FAULTS = FaultScript()


def active(faults: Iterable[ScheduledFault], moment: datetime) -> tuple[WireFault, ...]:
    """The faults whose window contains ``moment``."""
    return tuple(f.fault for f in faults if f.covers(moment))


def first(faults: Iterable[WireFault], kind: type[F]) -> F | None:
    """The first active fault of ``kind`` (scenario order wins when two overlap)."""
    for fault in faults:
        if isinstance(fault, kind):
            return fault
    return None


def drift_seconds(faults: Iterable[ScheduledFault], since: datetime, moment: datetime) -> float:
    """Clock error accumulated by drift faults between ``since`` (last sync) and ``moment``."""
    total = 0.0
    for scheduled in faults:
        fault = scheduled.fault
        if isinstance(fault, ClockDrift):
            share = scheduled.overlap_seconds(since, moment) / _DAY.total_seconds()
            total += fault.seconds_per_day * share
    return total
