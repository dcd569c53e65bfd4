"""Faults as data: what goes wrong, where, and when.

Faults are scripted in scenario files rather than coded into tests so that a demo, an
integration test and a bench can replay the same bad day. The community model applies the
physical ones (voltage, outage, registers, clocks, frozen records); the communication ones are
only *queried* here (``FaultSchedule.active``) and applied on the wire by the bus simulators.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime


class FaultKind(enum.StrEnum):
    """Every fault a scenario can script."""

    NO_REPLY = "no_reply"
    SLOW_REPLY = "slow_reply"
    CORRUPT_CHECKSUM = "corrupt_checksum"
    GARBAGE_BYTES = "garbage_bytes"
    WRONG_ADDRESS = "wrong_address"
    ERROR_RESPONSE = "error_response"
    CLOCK_DRIFT = "clock_drift"
    MISSING_FROZEN = "missing_frozen"
    METER_REPLACED = "meter_replaced"
    GATEWAY_DISCONNECT = "gateway_disconnect"
    REFUSES_BLOCKS = "refuses_blocks"
    """Block reads (``0201FF00``...) refused with ``error_word`` (default: no data)."""
    ECHOES_WILDCARD = "echoes_wildcard"
    """A wildcard-addressed read answered with the wildcard address in the header."""
    VOLTAGE_SAG = "voltage_sag"
    VOLTAGE_SWELL = "voltage_swell"
    TRANSFORMER_OUTAGE = "transformer_outage"
    ENERGY_BACKWARDS = "energy_backwards"


COMMUNICATION_FAULTS = frozenset(
    {
        FaultKind.NO_REPLY,
        FaultKind.SLOW_REPLY,
        FaultKind.CORRUPT_CHECKSUM,
        FaultKind.GARBAGE_BYTES,
        FaultKind.WRONG_ADDRESS,
        FaultKind.ERROR_RESPONSE,
        FaultKind.GATEWAY_DISCONNECT,
        FaultKind.REFUSES_BLOCKS,
        FaultKind.ECHOES_WILDCARD,
    }
)
"""Faults the wire simulators apply; the physical model ignores them."""


class TargetKind(enum.StrEnum):
    """What a fault is attached to; a bus or transformer fault hits every meter behind it."""

    METER = "meter"
    BUS = "bus"
    TRANSFORMER = "transformer"


# Which parameter each kind needs, and which targets make sense for it.
_REQUIRED: Mapping[FaultKind, str | None] = {
    FaultKind.NO_REPLY: None,
    FaultKind.SLOW_REPLY: "delay_ms",
    FaultKind.CORRUPT_CHECKSUM: None,
    FaultKind.GARBAGE_BYTES: None,
    FaultKind.WRONG_ADDRESS: None,
    FaultKind.ERROR_RESPONSE: "error_word",
    FaultKind.CLOCK_DRIFT: "seconds_per_day",
    FaultKind.MISSING_FROZEN: "days",
    FaultKind.METER_REPLACED: "new_address",
    FaultKind.GATEWAY_DISCONNECT: None,
    FaultKind.REFUSES_BLOCKS: None,
    FaultKind.ECHOES_WILDCARD: None,
    FaultKind.VOLTAGE_SAG: "factor",
    FaultKind.VOLTAGE_SWELL: "factor",
    FaultKind.TRANSFORMER_OUTAGE: None,
    FaultKind.ENERGY_BACKWARDS: None,
}
_ONLY_TARGET: Mapping[FaultKind, TargetKind] = {
    FaultKind.METER_REPLACED: TargetKind.METER,
    FaultKind.GATEWAY_DISCONNECT: TargetKind.BUS,
    FaultKind.TRANSFORMER_OUTAGE: TargetKind.TRANSFORMER,
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted fault. ``start``/``end`` of None mean "from the beginning"/"for ever".

    Only the parameter that belongs to ``kind`` is set; ``__post_init__`` checks that, so a
    typo in a scenario file fails at load time instead of silently doing nothing.
    """

    kind: FaultKind
    target_kind: TargetKind
    target: str
    start: datetime | None = None
    end: datetime | None = None
    delay_ms: float | None = None
    error_word: int | None = None
    seconds_per_day: float | None = None
    days: tuple[date, ...] = ()
    new_address: str | None = None
    factor: float | None = None
    garbage_length: int = 8

    def __post_init__(self) -> None:
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{self.kind}: {name} must carry a UTC offset")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"{self.kind}: end {self.end} is not after start {self.start}")
        only = _ONLY_TARGET.get(self.kind)
        if only is not None and self.target_kind is not only:
            raise ValueError(f"{self.kind}: must target a {only}, not a {self.target_kind}")
        required = _REQUIRED[self.kind]
        if required is not None and getattr(self, required) in (None, ()):
            raise ValueError(f"{self.kind}: needs '{required}'")
        self._check_values()

    def _check_values(self) -> None:
        if self.delay_ms is not None and self.delay_ms < 0:
            raise ValueError(f"{self.kind}: delay_ms must be >= 0")
        if self.error_word is not None and not 0 <= self.error_word <= 0xFF:
            raise ValueError(f"{self.kind}: error_word must fit in one byte")
        if self.new_address is not None and not (
            len(self.new_address) == 12 and self.new_address.isdigit()
        ):
            raise ValueError(f"{self.kind}: new_address must be 12 decimal digits")
        factor = self.factor
        if self.kind is FaultKind.VOLTAGE_SAG and factor is not None and not 0 <= factor < 1:
            raise ValueError(f"{self.kind}: factor must be in [0, 1)")
        if self.kind is FaultKind.VOLTAGE_SWELL and factor is not None and not 1 < factor <= 2:
            raise ValueError(f"{self.kind}: factor must be in (1, 2]")
        if self.garbage_length < 1:
            raise ValueError(f"{self.kind}: garbage_length must be >= 1")

    def covers(self, moment: datetime) -> bool:
        """Whether the fault's window contains ``moment`` (start inclusive, end exclusive)."""
        if self.start is not None and moment < self.start:
            return False
        return self.end is None or moment < self.end


@dataclass(frozen=True, slots=True)
class MeterPlace:
    """Where a meter hangs: which bus and which transformer faults reach it."""

    bus: str
    transformer: str


class FaultSchedule:
    """The scripted faults of one scenario, indexed for "what is wrong with this meter now"."""

    def __init__(self, faults: Iterable[Fault], places: Mapping[str, MeterPlace]) -> None:
        self._faults = tuple(faults)
        self._places = dict(places)

    @property
    def faults(self) -> tuple[Fault, ...]:
        return self._faults

    def _reaches(self, fault: Fault, meter_id: str) -> bool:
        place = self._places[meter_id]
        match fault.target_kind:
            case TargetKind.METER:
                return fault.target == meter_id
            case TargetKind.BUS:
                return fault.target == place.bus
            case TargetKind.TRANSFORMER:
                return fault.target == place.transformer

    def for_meter(self, meter_id: str) -> tuple[Fault, ...]:
        """Every fault that reaches ``meter_id`` at any time, in scenario order."""
        if meter_id not in self._places:
            raise KeyError(f"fault schedule: unknown meter {meter_id!r}")
        return tuple(f for f in self._faults if self._reaches(f, meter_id))

    def active(self, meter_id: str, moment: datetime) -> tuple[Fault, ...]:
        """Faults reaching ``meter_id`` whose window contains ``moment`` (what the wire applies)."""
        return tuple(f for f in self.for_meter(meter_id) if f.covers(moment))

    def active_on_bus(self, bus_id: str, moment: datetime) -> tuple[Fault, ...]:
        """Faults aimed at the bus itself (e.g. the TCP gateway is down)."""
        return tuple(
            f
            for f in self._faults
            if f.target_kind is TargetKind.BUS and f.target == bus_id and f.covers(moment)
        )

    def of_kind(self, kind: FaultKind) -> tuple[Fault, ...]:
        return tuple(f for f in self._faults if f.kind is kind)

    def meters_reached(self, fault: Fault) -> tuple[str, ...]:
        """The meters a fault applies to, in scenario order."""
        return tuple(m for m in self._places if self._reaches(fault, m))

    def address(self, meter_id: str, original: str, moment: datetime) -> str:
        """The meter's address at ``moment``: a replaced meter answers to its new address."""
        address = original
        for fault in self.for_meter(meter_id):
            if fault.kind is FaultKind.METER_REPLACED and fault.covers(moment):
                assert fault.new_address is not None
                address = fault.new_address
        return address
