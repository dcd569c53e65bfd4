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

from headend.errors import HeadendError
from headend.units import CANONICAL_UNITS, UnitError, canonical_unit, factor_to_canonical, family_of
from storage.records import ReadingKind

TERMINAL_QUANTITIES: tuple[str, ...] = (
    "voltage_a",
    "voltage_b",
    "voltage_c",
    "current_a",
    "current_b",
    "current_c",
    "power_active_total",
    "power_reactive_total",
    "power_apparent_total",
    "power_factor_total",
    "frequency",
    "load_rate",
    "oil_temperature",
    "winding_temperature",
    "energy_active_import_total",
    "energy_active_export_total",
    "energy_reactive_import_total",
    "energy_reactive_export_total",
)
"""What terminals usually report; any quantity of a unit family (``headend.units``) maps too."""

_ENERGY_FAMILIES = frozenset({"energy_active", "energy_reactive"})


def _kind_of(quantity: str) -> ReadingKind:
    return ReadingKind.ENERGY if family_of(quantity) in _ENERGY_FAMILIES else ReadingKind.INSTANT


CANONICAL: Mapping[str, tuple[str, ReadingKind]] = MappingProxyType(
    {q: (canonical_unit(q) or "", _kind_of(q)) for q in TERMINAL_QUANTITIES}
)
"""Terminal quantity -> canonical unit and reading kind, derived from the one unit table."""


class PointConfigError(HeadendError, ValueError):
    """A ``[mqtt.names]`` entry cannot be used (unknown quantity, unit or scale)."""


@dataclass(frozen=True, slots=True)
class TerminalPoint:
    """One terminal name: stored as ``quantity`` with ``value * factor`` in ``unit``."""

    quantity: str
    unit: str
    kind: ReadingKind
    factor: float = 1.0


def terminal_point(quantity: str, *, unit: str | None = None, scale: float = 1.0) -> TerminalPoint:
    """The point for ``quantity`` whose values come in ``unit`` (default: canonical) x ``scale``.

    Units and factors are ``headend.units``' table, the one the engine's unit gate applies, so
    a point accepted here is never refused there."""
    if not math.isfinite(scale) or scale == 0:
        raise PointConfigError(f"scale {scale!r} must be a finite number other than 0")
    canonical = canonical_unit(quantity)
    if canonical is None:
        if unit is not None:
            raise PointConfigError(
                f"quantity {quantity!r} has no canonical unit to convert {unit!r} to "
                f"(quantity families with units: {', '.join(CANONICAL_UNITS)})"
            )
        # Accepted as before (old configs map extra names): a state, stored unit-less, scaled.
        return TerminalPoint(quantity, "", ReadingKind.INSTANT, scale)
    try:
        factor = factor_to_canonical(quantity, canonical if unit is None else unit)
    except UnitError as exc:
        raise PointConfigError(str(exc)) from None
    return TerminalPoint(quantity, canonical, _kind_of(quantity), factor * scale)


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
    unit = DEFAULT_TERMINAL_UNITS.get(name) if canonical_unit(quantity) is not None else None
    if unit is not None:
        try:
            factor_to_canonical(quantity, unit)
        except UnitError:
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
