"""One canonical unit per quantity, for every source: DL/T 645, Modbus maps and terminal MQTT.

Storage keys a series by quantity and unit, the fleet view adds powers and the anomaly rules
compare against kW and kVA limits, so a quantity must never arrive as W from one meter model
and kW from another. Every reading passes ``UnitGate.conform`` on its way in (the engine's
``publish`` is the one door all sources share): a known other unit is converted, an unknown
one is refused, counted and named, and the other readings go on.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType

from headend.errors import HeadendError
from storage.records import Quality, Reading

log = logging.getLogger(__name__)

CANONICAL_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "voltage": "V",
        "current": "A",
        "power_active": "kW",
        "power_reactive": "kvar",
        "power_apparent": "kVA",
        "power_factor": "",
        "frequency": "Hz",
        "energy_active": "kWh",
        "energy_reactive": "kvarh",
        "load_rate": "%",
        "temperature": "°C",
    }
)
"""Quantity family -> the unit every reading of it carries. A quantity belongs to the family
its name starts with (``power_active_total`` -> ``power_active``; a ``frozen_`` prefix is the
reading's kind, not its family), or ends with for temperatures (``oil_temperature``).
Quantities of no family (clock, status words, CT ratio) are states and keep their own unit."""

CONVERSIONS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "V": {"kV": 1000.0},
        "A": {"mA": 0.001, "kA": 1000.0},
        "kW": {"W": 0.001, "MW": 1000.0},
        "kvar": {"var": 0.001, "Mvar": 1000.0},
        "kVA": {"VA": 0.001, "MVA": 1000.0},
        "kWh": {"Wh": 0.001, "MWh": 1000.0},
        "kvarh": {"varh": 0.001, "Mvarh": 1000.0},
        "Hz": {},
        "%": {},
        "": {},
        "°C": {"degC": 1.0, "℃": 1.0, "C": 1.0},
    }
)
"""Canonical unit -> {other unit: factor to multiply a value by}; any other unit is refused."""

_FROZEN_PREFIX = "frozen_"
_TEMPERATURE_SUFFIX = "temperature"


class UnitError(HeadendError, ValueError):
    """A reading's unit is not its quantity's canonical unit and cannot be converted to it."""


@lru_cache(maxsize=4096)
def family_of(quantity: str) -> str | None:
    """The quantity's family in ``CANONICAL_UNITS``, or None for a state quantity.

    Cached (bounded: names may come from MQTT peers): every reading of every source asks,
    and a fleet has a few dozen quantity names."""
    name = quantity.removeprefix(_FROZEN_PREFIX)
    if name.endswith(_TEMPERATURE_SUFFIX):
        return _TEMPERATURE_SUFFIX
    for family in CANONICAL_UNITS:
        if name == family or name.startswith(family + "_"):
            return family
    return None


@lru_cache(maxsize=4096)
def canonical_unit(quantity: str) -> str | None:
    """The unit every reading of ``quantity`` must carry; None when the table does not cover it."""
    family = family_of(quantity)
    return None if family is None else CANONICAL_UNITS[family]


@lru_cache(maxsize=4096)
def factor_to_canonical(quantity: str, unit: str) -> float:
    """What to multiply a value of ``quantity`` in ``unit`` by to get the canonical unit."""
    canonical = canonical_unit(quantity)
    if canonical is None or unit == canonical:
        return 1.0
    factor = CONVERSIONS[canonical].get(unit)
    if factor is None:
        accepted = sorted({canonical, *CONVERSIONS[canonical]})
        raise UnitError(
            f"quantity {quantity!r}: unit {unit!r} is not {canonical!r} and cannot be "
            f"converted to it (accepted: {accepted})"
        )
    return factor


def to_canonical(reading: Reading) -> Reading:
    """The reading in its quantity's canonical unit (the same object when it already is)."""
    canonical = canonical_unit(reading.quantity)
    if canonical is None or reading.unit == canonical:
        return reading
    try:
        factor = factor_to_canonical(reading.quantity, reading.unit)
    except UnitError as exc:
        raise UnitError(f"meter {reading.meter}: {exc}") from None
    if reading.quality is Quality.MISSING or reading.value is None:
        return replace(reading, unit=canonical)
    value = reading.value * factor
    if not math.isfinite(value):
        raise UnitError(
            f"meter {reading.meter}: quantity {reading.quantity!r}: {reading.value!r} "
            f"{reading.unit} is out of range in {canonical}"
        )
    return replace(reading, value=value, unit=canonical)


class UnitGate:
    """Converts or refuses readings by unit, and keeps count of both.

    A refused reading is dropped (its value in an unknown unit would land in a wrong series and
    feed wrong alarms); it is logged once per meter, quantity and unit, not on every read.
    """

    def __init__(self) -> None:
        self.converted = 0
        self.refused: Counter[tuple[str, str]] = Counter()
        """Refused readings by (quantity, unit)."""
        self._logged: set[tuple[str, str, str]] = set()

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def conform(self, readings: Iterable[Reading]) -> list[Reading]:
        """The readings that can be stored, each in its canonical unit."""
        kept: list[Reading] = []
        for reading in readings:
            try:
                conformed = to_canonical(reading)
            except UnitError as exc:
                self.refused[reading.quantity, reading.unit] += 1
                key = (reading.meter, reading.quantity, reading.unit)
                if key not in self._logged:
                    self._logged.add(key)
                    log.warning("reading refused: %s", exc)
                continue
            if conformed is not reading:
                self.converted += 1
            kept.append(conformed)
        return kept
