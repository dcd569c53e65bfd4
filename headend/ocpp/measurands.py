"""OCPP 1.6 MeterValues -> (quantity, value, canonical unit, time), the storage catalogue's names.

Sans-IO. A charger reports power in W and energy in Wh by default, and the sampled value is a
string; storage keeps kW and kWh (``headend.units``), so the conversion is made here where the
OCPP unit is known, and a measurand, phase or unit we do not map is skipped and counted by
the caller rather than stored under a guessed name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

QUANTITIES: Mapping[tuple[str, str], str] = {
    ("Energy.Active.Import.Register", ""): "energy_active_import_total",
    ("Power.Active.Import", ""): "power_active_total",
    ("Power.Active.Import", "L1"): "power_active_a",
    ("Power.Active.Import", "L2"): "power_active_b",
    ("Power.Active.Import", "L3"): "power_active_c",
    ("Current.Import", "L1"): "current_a",
    ("Current.Import", "L2"): "current_b",
    ("Current.Import", "L3"): "current_c",
    ("Voltage", "L1"): "voltage_a",
    ("Voltage", "L2"): "voltage_b",
    ("Voltage", "L3"): "voltage_c",
    ("Voltage", "L1-N"): "voltage_a",
    ("Voltage", "L2-N"): "voltage_b",
    ("Voltage", "L3-N"): "voltage_c",
}
"""(measurand, phase) -> quantity. OCPP's default measurand is the energy register."""

TO_CANONICAL: Mapping[str, tuple[str, float]] = {
    "Wh": ("kWh", 0.001),
    "kWh": ("kWh", 1.0),
    "W": ("kW", 0.001),
    "kW": ("kW", 1.0),
    "A": ("A", 1.0),
    "V": ("V", 1.0),
}
DEFAULT_UNITS: Mapping[str, str] = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
}


@dataclass(frozen=True, slots=True)
class Sample:
    quantity: str
    value: float
    unit: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class UnusedSample:
    what: str
    why: str


def samples(meter_value: Iterable[Mapping[str, Any]]) -> tuple[list[Sample], list[UnusedSample]]:
    """The MeterValues' ``meterValue`` list (as the library's snake_case dicts)."""
    found: list[Sample] = []
    skipped: list[UnusedSample] = []
    for entry in meter_value:
        try:
            at = datetime.fromisoformat(str(entry["timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError) as exc:
            skipped.append(UnusedSample("timestamp", f"unreadable: {exc}"))
            continue
        if at.tzinfo is None:
            skipped.append(UnusedSample("timestamp", "no time zone"))
            continue
        for sampled in entry.get("sampled_value", ()):
            measurand = str(sampled.get("measurand") or "Energy.Active.Import.Register")
            phase = str(sampled.get("phase") or "")
            what = f"{measurand}/{phase}" if phase else measurand
            quantity = QUANTITIES.get((measurand, phase))
            if quantity is None:
                skipped.append(UnusedSample(what, "not mapped"))
                continue
            unit = str(sampled.get("unit") or DEFAULT_UNITS[measurand])
            canonical = TO_CANONICAL.get(unit)
            if canonical is None or canonical[0] != TO_CANONICAL[DEFAULT_UNITS[measurand]][0]:
                skipped.append(UnusedSample(what, f"unit {unit!r} not convertible"))
                continue
            try:
                value = float(sampled["value"])
            except (KeyError, ValueError) as exc:
                skipped.append(UnusedSample(what, f"value unreadable: {exc}"))
                continue
            if not math.isfinite(value):
                skipped.append(UnusedSample(what, "value not finite"))
                continue
            found.append(Sample(quantity, value * canonical[1], canonical[0], at))
    return found, skipped
