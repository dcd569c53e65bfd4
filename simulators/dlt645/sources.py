"""Where a simulated meter's numbers come from: a ``ValueSource`` per meter.

The meter only encodes; it never invents physics. Energy in particular is whatever the source
says (the community model integrates power over time), so a head-end test can compare what it
read with what the source held at that simulated moment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from protocols.dlt645 import Value
from protocols.dlt645.values import Encoding, ValueFormat

_HOUR = 3600.0


@runtime_checkable
class ValueSource(Protocol):
    """Live values of one meter, by catalogue quantity name, at a simulated UTC time."""

    def value(self, quantity: str, at: datetime) -> float | None:
        """The quantity at ``at``; None when this meter does not measure it."""
        ...

    def frozen_energy(self, day: date) -> float | None:
        """Import energy (kWh) frozen at local midnight starting ``day``; None if no record."""
        ...


def _frozen(values: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class StaticSource:
    """Fixed values: tests that must know exactly what the meter will say."""

    values: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    frozen: Mapping[date, float] = field(default_factory=lambda: MappingProxyType({}))

    def value(self, quantity: str, at: datetime) -> float | None:
        return self.values.get(quantity)

    def frozen_energy(self, day: date) -> float | None:
        return self.frozen.get(day)


@dataclass(frozen=True, slots=True)
class RampingSource:
    """Constant instantaneous values and an import register growing at ``power_kw``.

    Energy at ``t`` is ``energy_at_start + power_kw * hours since start`` and frozen records
    follow the same line at each local midnight, so reads and frozen records stay consistent
    with each other without a load model.
    """

    start: datetime
    energy_at_start: float
    power_kw: float
    values: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    utc_offset_hours: float = 8.0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("RampingSource: start must be timezone-aware (UTC)")
        if self.power_kw < 0:
            raise ValueError(f"RampingSource: power_kw {self.power_kw} must be >= 0")

    def energy(self, at: datetime) -> float:
        hours = (at - self.start).total_seconds() / _HOUR
        return self.energy_at_start + self.power_kw * max(0.0, hours)

    def value(self, quantity: str, at: datetime) -> float | None:
        if quantity == "energy_active_import_total":
            return self.energy(at)
        if quantity == "power_active_total" and quantity not in self.values:
            return self.power_kw
        return self.values.get(quantity)

    def frozen_energy(self, day: date) -> float | None:
        zone = timezone(timedelta(hours=self.utc_offset_hours))
        midnight = datetime.combine(day, time(), zone).astimezone(UTC)
        if midnight < self.start:
            return None
        return self.energy(midnight)


_STORED_EPOCH = datetime(2026, 1, 1)  # noqa: DTZ001 - meter wall clock, zone-less
_STORED_SPAN_MINUTES = 150 * 24 * 60


@dataclass(frozen=True, slots=True)
class StoredRegisters:
    """What a meter keeps that no load model produces: past settlement periods, maximum
    demand, event records, nameplate numbers, temperature and batteries.

    Every value is a pure function of the meter (``key``, its address), the value's name and
    the period asked for (1 = last settlement, last event...), fitted to the item's format:
    a test recomputes exactly what the meter answers, and two meters differ. Numbers are
    stand-ins, not physics (a settlement energy is not the register's value on that day);
    times fall in the first 150 days of 2026 and an event's end follows its start.
    """

    key: str
    tariffs: int = 4
    """What the meter reports as its tariff count (04000204); blocks stop after it."""

    def value(self, name: str, period: int, value_format: ValueFormat) -> Value | None:
        """``name`` as the meter holds it, or None if the meter has no such value."""
        tariff = tariff_of(name)
        if tariff is not None and tariff > self.tariffs:
            return None
        fixed = self._fixed(name)
        if fixed is not None:
            return fixed
        if value_format.encoding is Encoding.ASCII:
            return f"{name[:8]}-{self.key}"[: value_format.length]
        if not value_format.is_numeric:
            return self._moment(name, period, value_format)
        if value_format.encoding is Encoding.BITS:
            return self._draw(name, period) % (1 << (8 * value_format.length))
        digits = value_format.digits
        sign_in_top_digit = value_format.signed and digits % 2 == 0
        limit: int = 8 * 10 ** (digits - 1) if sign_in_top_digit else 10**digits
        scaled = self._draw(name, period) % limit
        decimals = value_format.decimals
        return scaled / 10.0**decimals if decimals else scaled

    def _fixed(self, name: str) -> Value | None:
        match name:
            case "tariff_count":
                return self.tariffs
            case "meter_number":
                return int(self.key)
            case "settlement_day":
                return 1  # the 1st of the month (the usual contract; DDhh = 0100)
            case "settlement_day_hour":
                return 0
            case "temperature":
                return 20.0 + self._draw(name, 0) % 150 / 10
            case "battery_voltage_clock" | "battery_voltage_reading":
                return 3.5 + self._draw(name, 0) % 20 / 100
        return None

    def _moment(self, name: str, period: int, value_format: ValueFormat) -> Value:
        if name.endswith("_end"):
            start = self._moment(name.removesuffix("_end") + "_start", period, value_format)
            assert isinstance(start, datetime)
            return start + timedelta(minutes=1 + self._draw(name, period) % 600)
        minutes = self._draw(name, period) % _STORED_SPAN_MINUTES
        moment = _STORED_EPOCH + timedelta(minutes=minutes)
        seconds = self._draw(name + "/s", period) % 60 if "ss" in value_format.pattern else 0
        return moment.replace(second=seconds)

    def _draw(self, name: str, period: int) -> int:
        digest = hashlib.blake2b(f"{self.key}/{name}/{period}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big")


def tariff_of(name: str) -> int | None:
    """The tariff a value's name is of (``..._t3`` or ``..._t3_time``), if any."""
    for part in reversed(name.split("_")):
        if len(part) > 1 and part[0] == "t" and part[1:].isdigit():
            return int(part[1:])
    return None
