"""Terminal point names -> our quantities, in the canonical unit of each quantity.

Terminals send power in W and energy in Wh (``TotW``, ``SupWh``); the head-end stores kW and
kWh everywhere, and the load rule compares kW with the rated kVA. A W value labelled kW made a
normally loaded transformer look 1000 times overloaded, so every mapped point carries the
factor that turns the terminal's number into the canonical unit, from a declared ``unit`` or an
explicit ``scale``. Pure data and arithmetic: the bridge and the config loader share it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from headend.readings import ReadingKind

CANONICAL: Mapping[str, tuple[str, ReadingKind]] = MappingProxyType(
    {
        "voltage_a": ("V", ReadingKind.INSTANT),
        "voltage_b": ("V", ReadingKind.INSTANT),
        "voltage_c": ("V", ReadingKind.INSTANT),
        "current_a": ("A", ReadingKind.INSTANT),
        "current_b": ("A", ReadingKind.INSTANT),
        "current_c": ("A", ReadingKind.INSTANT),
        "power_active_total": ("kW", ReadingKind.INSTANT),
        "power_reactive_total": ("kvar", ReadingKind.INSTANT),
        "power_apparent_total": ("kVA", ReadingKind.INSTANT),
        "power_factor_total": ("", ReadingKind.INSTANT),
        "frequency": ("Hz", ReadingKind.INSTANT),
        "load_rate": ("%", ReadingKind.INSTANT),
        "oil_temperature": ("°C", ReadingKind.INSTANT),
        "winding_temperature": ("°C", ReadingKind.INSTANT),
        "energy_active_import_total": ("kWh", ReadingKind.ENERGY),
        "energy_active_export_total": ("kWh", ReadingKind.ENERGY),
        "energy_reactive_import_total": ("kvarh", ReadingKind.ENERGY),
        "energy_reactive_export_total": ("kvarh", ReadingKind.ENERGY),
    }
)
"""Quantities a terminal point may map to: canonical unit and reading kind."""

UNIT_FACTORS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "V": {"V": 1.0, "kV": 1000.0},
        "A": {"A": 1.0, "kA": 1000.0},
        "kW": {"W": 0.001, "kW": 1.0, "MW": 1000.0},
        "kvar": {"var": 0.001, "kvar": 1.0, "Mvar": 1000.0},
        "kVA": {"VA": 0.001, "kVA": 1.0, "MVA": 1000.0},
        "kWh": {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0},
        "kvarh": {"varh": 0.001, "kvarh": 1.0, "Mvarh": 1000.0},
        "Hz": {"Hz": 1.0},
        "%": {"%": 1.0},
        "": {"": 1.0},
        "°C": {"°C": 1.0, "degC": 1.0, "℃": 1.0},
    }
)
"""Canonical unit -> {unit a terminal may declare: factor to the canonical unit}."""


class PointConfigError(ValueError):
    """A ``[mqtt.names]`` entry cannot be used (unknown quantity, unit or scale)."""


@dataclass(frozen=True, slots=True)
class TerminalPoint:
    """One terminal name: stored as ``quantity`` with ``value * factor`` in ``unit``."""

    quantity: str
    unit: str
    kind: ReadingKind
    factor: float = 1.0


def terminal_point(quantity: str, *, unit: str | None = None, scale: float = 1.0) -> TerminalPoint:
    """The point for ``quantity`` whose values come in ``unit`` (default: canonical) x ``scale``."""
    if not math.isfinite(scale) or scale == 0:
        raise PointConfigError(f"scale {scale!r} must be a finite number other than 0")
    known = CANONICAL.get(quantity)
    if known is None:
        if unit is not None:
            raise PointConfigError(
                f"quantity {quantity!r} has no canonical unit to convert {unit!r} to "
                f"(quantities with units: {', '.join(sorted(CANONICAL))})"
            )
        # Accepted as before (old configs map extra names): stored unit-less, scaled only.
        return TerminalPoint(quantity, "", ReadingKind.INSTANT, scale)
    canonical, kind = known
    factors = UNIT_FACTORS[canonical]
    source_unit = canonical if unit is None else unit
    if source_unit not in factors:
        raise PointConfigError(
            f"unit {source_unit!r} cannot be converted to {canonical!r} for {quantity!r} "
            f"(accepted: {', '.join(repr(u) for u in factors)})"
        )
    return TerminalPoint(quantity, canonical, kind, factors[source_unit] * scale)


DEFAULT_TERMINAL_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "PhV_phsA": "voltage_a",
        "PhV_phsB": "voltage_b",
        "PhV_phsC": "voltage_c",
        "A_phsA": "current_a",
        "A_phsB": "current_b",
        "A_phsC": "current_c",
        "TotW": "power_active_total",
        "TotVar": "power_reactive_total",
        "TotPF": "power_factor_total",
        "Hz": "frequency",
        "LoadRate": "load_rate",
        "OilTemp": "oil_temperature",
        "WindTemp": "winding_temperature",
        "SupWh": "energy_active_import_total",
    }
)
"""Terminal names seen in public code -> quantity (the old string form of ``[mqtt.names]``)."""

DEFAULT_TERMINAL_UNITS: Mapping[str, str] = MappingProxyType(
    {"TotW": "W", "TotVar": "var", "TotVA": "VA", "SupWh": "Wh"}
)
"""The unit terminals send these names in (base SI units); every other default is canonical."""


def default_point(name: str, quantity: str) -> TerminalPoint:
    """The point for the string form ``name = "quantity"``: a common name keeps its usual unit
    (``TotW`` is W whatever it maps to), any other name is taken as canonical."""
    unit = DEFAULT_TERMINAL_UNITS.get(name) if quantity in CANONICAL else None
    if unit is not None and unit not in UNIT_FACTORS[CANONICAL[quantity][0]]:
        unit = None  # e.g. TotW remapped to a voltage: the W assumption does not apply
    return terminal_point(quantity, unit=unit)


DEFAULT_TERMINAL_POINTS: Mapping[str, TerminalPoint] = MappingProxyType(
    {name: default_point(name, quantity) for name, quantity in DEFAULT_TERMINAL_NAMES.items()}
)


def as_points(names: Mapping[str, str | TerminalPoint]) -> dict[str, TerminalPoint]:
    """Accept both forms: a quantity name (old config) or a ready ``TerminalPoint``."""
    return {
        name: spec if isinstance(spec, TerminalPoint) else default_point(name, spec)
        for name, spec in names.items()
    }
