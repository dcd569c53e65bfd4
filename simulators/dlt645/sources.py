"""Where a simulated meter's numbers come from: a ``ValueSource`` per meter.

The meter only encodes; it never invents physics. Energy in particular is whatever the source
says (the community model integrates power over time), so a head-end test can compare what it
read with what the source held at that simulated moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from types import MappingProxyType
from typing import Protocol, runtime_checkable

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
