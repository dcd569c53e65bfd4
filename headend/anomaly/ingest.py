"""Writes head-end readings into the fleet snapshot arrays, in place.

Which quantity lands in which array is a table: collectors of every protocol emit the same
catalogue names, and units convert by the one canonical unit table of ``headend.units``.
Instantaneous values are only taken when read now (``ACTUAL``); a failed read blanks the value
so a stale number never triggers a rule. Energy registers keep the last two good reads, in time
order, so steps can be judged.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from types import MappingProxyType

from headend.anomaly.errors import ReadingRejectedError
from headend.anomaly.fleet import FleetSnapshot, failure_code
from headend.units import UnitError, factor_to_canonical
from storage.records import SAYS_NOTHING_ABOUT_THE_METER, Quality, Reading, ReadingKind


class Target(enum.Enum):
    """Where a quantity goes in the snapshot."""

    VOLTAGE = "voltage"
    CURRENT = "current"
    POWER = "power"
    ENERGY_IMPORT = "energy_import"
    ENERGY_EXPORT = "energy_export"
    CLOCK = "clock"
    CLOCK_DRIFT = "clock_drift"


QUANTITIES: Mapping[str, tuple[Target, int]] = MappingProxyType(
    {
        "voltage_a": (Target.VOLTAGE, 0),
        "voltage_b": (Target.VOLTAGE, 1),
        "voltage_c": (Target.VOLTAGE, 2),
        "current_a": (Target.CURRENT, 0),
        "current_b": (Target.CURRENT, 1),
        "current_c": (Target.CURRENT, 2),
        "power_active_total": (Target.POWER, 0),
        "energy_active_import_total": (Target.ENERGY_IMPORT, 0),
        "energy_active_export_total": (Target.ENERGY_EXPORT, 0),
        "clock": (Target.CLOCK, 0),
        "clock_drift": (Target.CLOCK_DRIFT, 0),
    }
)
"""Catalogue name -> (target, phase column). ``clock`` is the meter's clock in UNIX seconds."""

CLOCK_UNITS: Mapping[Target, Mapping[str, float]] = MappingProxyType(
    {
        Target.CLOCK: {"s": 1.0},
        Target.CLOCK_DRIFT: {"s": 1.0, "ms": 0.001},
    }
)
"""Factor from each accepted unit to seconds, for the clock quantities (states, which the
canonical unit table of ``headend.units`` does not cover)."""


def _scaled(reading: Reading, target: Target) -> float | None:
    """The value in snapshot units (the canonical V, A, kW, kWh; s for clocks), or None for a
    failed read."""
    if reading.value is None:
        return None
    # By identity first: most readings are not clocks, and hashing an enum member runs Python.
    clock = (
        CLOCK_UNITS.get(target) if target is Target.CLOCK or target is Target.CLOCK_DRIFT else None
    )
    if clock is not None:
        factor = clock.get(reading.unit)
        if factor is None:
            raise ReadingRejectedError(
                f"reading {reading.meter}/{reading.quantity}: unit {reading.unit!r} not one of "
                f"{sorted(clock)}"
            )
        return reading.value * factor
    try:
        return reading.value * factor_to_canonical(reading.quantity, reading.unit)
    except UnitError as exc:
        raise ReadingRejectedError(f"reading {reading.meter}/{reading.quantity}: {exc}") from None


def apply_meter_reading(snap: FleetSnapshot, row: int, reading: Reading) -> bool:
    """Put one meter reading into row ``row``; False if the quantity is not one the rules use."""
    quality = reading.quality
    if quality is Quality.ACTUAL and reading.unit == "V" and reading.value is not None:
        # The usual polled reading, a voltage in its canonical unit, without the lookups of
        # the general path below (which gives the same result for it).
        entry = QUANTITIES.get(reading.quantity)
        if entry is not None and entry[0] is Target.VOLTAGE:
            snap.failure_code[row] = 0
            if reading.kind is ReadingKind.FROZEN:
                return False
            snap.voltage[entry[1], row] = reading.value
            return True
    if quality is Quality.MISSING:
        if reading.reason in SAYS_NOTHING_ABOUT_THE_METER:
            return False  # never sent (bus overrun, offline skip, shutdown): not the meter's doing
        snap.failure_code[row] = failure_code(reading.reason or "")
    elif reading.quality in (Quality.ACTUAL, Quality.BACKFILLED):
        snap.failure_code[row] = 0
    entry = QUANTITIES.get(reading.quantity)
    if entry is None or reading.kind is ReadingKind.FROZEN:
        return False
    target, column = entry
    value = _scaled(reading, target)
    if reading.quality is Quality.ESTIMATED:
        return False
    live = reading.quality is Quality.ACTUAL
    if target is Target.VOLTAGE:
        if value is None or live:
            snap.voltage[column, row] = math.nan if value is None else value
    elif target is Target.POWER:
        if value is None or live:
            snap.power_kw[row] = math.nan if value is None else value
    elif target is Target.ENERGY_IMPORT:
        # The stamp only where it is used: a conversion per voltage reading was waste.
        stamp = reading.timestamp.timestamp()
        if value is not None and not stamp <= snap.energy_import_time[row]:
            snap.energy_import_prev_kwh[row] = snap.energy_import_kwh[row]
            snap.energy_import_prev_time[row] = snap.energy_import_time[row]
            snap.energy_import_kwh[row] = value
            snap.energy_import_time[row] = stamp
    elif target is Target.ENERGY_EXPORT:
        if value is not None:
            snap.energy_export_prev_kwh[row] = snap.energy_export_kwh[row]
            snap.energy_export_kwh[row] = value
    elif target is Target.CLOCK:
        if value is None or live:
            stamp = reading.timestamp.timestamp()
            snap.clock_drift_s[row] = math.nan if value is None else value - stamp
    elif target is Target.CLOCK_DRIFT:
        if value is None or live:
            snap.clock_drift_s[row] = math.nan if value is None else value
    else:
        return False
    return True


def apply_transformer_reading(snap: FleetSnapshot, row: int, reading: Reading) -> bool:
    """Put one transformer-terminal reading into row ``row``; False if not used by the rules."""
    entry = QUANTITIES.get(reading.quantity)
    if entry is None or reading.quality not in (Quality.ACTUAL, Quality.MISSING):
        return False
    target, column = entry
    value = _scaled(reading, target)
    stored = math.nan if value is None else value
    if target is Target.VOLTAGE:
        snap.transformer_voltage[column, row] = stored
    elif target is Target.CURRENT:
        snap.transformer_current[column, row] = stored
    elif target is Target.POWER:
        snap.transformer_power_kw[row] = stored
    else:
        return False
    return True
