"""Thresholds and timings of the anomaly rules, validated when loaded.

Defaults come from GB/T 12325-2008 (supply voltage deviation), GB/T 15543-2008 (three-phase
voltage unbalance) and distribution practice (transformer heavy load 80 %, overload 100 %,
current unbalance 15 %, low-voltage user below the limit for over an hour). One ``AnomalyConfig``
describes one site; a site with other limits writes them in the fleet file's ``[anomaly]``
table, which ``headend.config`` reads through ``anomaly_table`` (the one reader of that table).

The dataclasses are the table's schema: each field's type says what a key must be, its range
included (``Fraction``, ``NonNegative``), and pydantic checks it when a table is read, so the
error names the key and the bound. ``__post_init__`` keeps only what no single field can say
(a clear threshold stricter than its raise threshold). Code that builds an ``AnomalyConfig``
directly is trusted for types and ranges, as with any dataclass.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated

from pydantic import AllowInfNan, ConfigDict, Field, Strict, TypeAdapter

from headend.anomaly.errors import AnomalyConfigError
from headend.anomaly.events import AnomalyKind
from storage.records import FailureReason

Number = Annotated[float, Strict(), AllowInfNan(False)]
"""A TOML number, never ``true`` or ``"0.8"``; ints are taken as floats."""
Fraction = Annotated[Number, Field(ge=0.0, le=1.0)]
"""A share, 0..1 (0.8 = 80 %)."""
NonNegative = Annotated[Number, Field(ge=0.0)]
"""A limit, count or duration that cannot be below zero."""
_TABLE = ConfigDict(extra="forbid")
"""How pydantic reads these dataclasses from a TOML table: unknown keys are typos."""


@dataclass(frozen=True, slots=True)
class VoltageBand:
    """Allowed supply voltage band around a nominal phase voltage, in percent of nominal."""

    __pydantic_config__ = _TABLE

    nominal_v: Annotated[Number, Field(gt=0.0)]
    lower_pct: Annotated[Number, Field(ge=0.0, lt=100.0)]
    """Below 100: a band reaching 0 V would call a dead phase a low one."""
    upper_pct: NonNegative

    @property
    def low_v(self) -> float:
        return self.nominal_v * (1.0 - self.lower_pct / 100.0)

    @property
    def high_v(self) -> float:
        return self.nominal_v * (1.0 + self.upper_pct / 100.0)


@dataclass(frozen=True, slots=True)
class Timing:
    """How long a condition must hold before it is raised and stay normal before it clears.

    Together with the raise/clear thresholds this is what keeps noise from flapping events.
    """

    __pydantic_config__ = _TABLE

    min_duration_s: NonNegative
    clear_after_s: NonNegative


DEFAULT_TIMINGS: Mapping[AnomalyKind, Timing] = MappingProxyType(
    {
        AnomalyKind.VOLTAGE_LOW: Timing(60.0, 300.0),
        AnomalyKind.VOLTAGE_HIGH: Timing(60.0, 300.0),
        AnomalyKind.VOLTAGE_LOW_SUSTAINED: Timing(3600.0, 900.0),
        AnomalyKind.HEAVY_LOAD: Timing(7200.0, 900.0),
        AnomalyKind.OVERLOAD: Timing(3600.0, 900.0),
        AnomalyKind.CURRENT_UNBALANCE: Timing(3600.0, 900.0),
        AnomalyKind.VOLTAGE_UNBALANCE: Timing(600.0, 600.0),
        AnomalyKind.OUTAGE: Timing(0.0, 120.0),
        AnomalyKind.COMMUNICATION_FAULT: Timing(0.0, 300.0),
        AnomalyKind.ENERGY_BACKWARDS: Timing(0.0, 0.0),
        AnomalyKind.ENERGY_JUMP: Timing(0.0, 0.0),
        AnomalyKind.REVERSE_ENERGY: Timing(0.0, 0.0),
        AnomalyKind.CLOCK_DRIFT: Timing(0.0, 0.0),
    }
)


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    """Every threshold of every rule. Fractions are 0..1 (0.8 = 80 %).

    The dataclass is also the schema of the ``[anomaly]`` table: pydantic reads a table into it
    (``anomaly_table``), the field types bound each value, and ``__post_init__`` checks what
    relates two fields."""

    __pydantic_config__ = _TABLE

    single_phase: VoltageBand = VoltageBand(220.0, 10.0, 7.0)
    """GB/T 12325-2008: 220 V single-phase supply, +7 % / -10 % (198-235.4 V)."""
    three_phase: VoltageBand = VoltageBand(220.0, 7.0, 7.0)
    """GB/T 12325-2008: 380 V three-phase, +-7 %; judged on the 220 V phase voltages."""
    voltage_hysteresis_v: NonNegative = 2.0
    """A low (high) voltage clears only once back this far inside the band."""
    zero_voltage_v: NonNegative = 10.0
    """At or below this on every phase a meter reports 'no supply', not 'low voltage'."""

    group_low_fraction: Fraction = 0.2
    """A transformer or building is low when this share of its meters is below the limit ..."""
    group_low_clear_fraction: Fraction = 0.1
    """... and stops being low when fewer than this share are."""

    heavy_load_rate: Fraction = 0.8
    overload_rate: NonNegative = 1.0
    load_hysteresis: Fraction = 0.05
    assumed_power_factor: Annotated[Number, Field(gt=0.0, le=1.0)] = 0.95
    """Active power is converted to apparent power with this when the terminal gives only kW."""
    min_meter_coverage: Fraction = 0.5
    """Summing meters gives a load only when at least this share of them answered."""

    current_unbalance_limit: Fraction = 0.15
    """(Imax - Imin) / Imax of the transformer's phase currents (practice for Yyn0)."""
    current_unbalance_hysteresis: Fraction = 0.03
    unbalance_min_load_rate: Fraction = 0.1
    """Below this share of rated current unbalance is not judged: light loads are always uneven."""
    voltage_unbalance_limit: Fraction = 0.02
    """GB/T 15543-2008 normal limit 2 % (4 % short-time), approximated from phase magnitudes."""
    voltage_unbalance_hysteresis: Fraction = 0.005

    outage_fraction: Fraction = 0.5
    """This share of a transformer's meters silent or at zero volts is one transformer outage."""
    outage_clear_fraction: Fraction = 0.2
    outage_min_meters: NonNegative = 3.0
    silent_reasons: tuple[Annotated[str, Strict()], ...] = (FailureReason.TIMEOUT.value,)
    """Failure reasons meaning 'nobody answered': a dead or unpowered meter looks like this."""
    link_reasons: tuple[Annotated[str, Strict()], ...] = (FailureReason.CONNECTION_LOST.value,)
    """Failure reasons meaning 'the channel to the meter is down' (DTU, concentrator, gateway)."""

    energy_tolerance_kwh: NonNegative = 0.01
    """Register rounding: steps smaller than this are neither backwards nor reverse energy."""
    single_phase_max_kw: NonNegative = 13.2
    """Most a single-phase meter can pass (60 A at 220 V); more energy than this is a jump."""
    three_phase_max_kw: NonNegative = 66.0
    """Most a three-phase meter can pass (100 A at 220 V on three phases)."""
    clock_drift_limit_s: NonNegative = 300.0
    """Meter clocks further off than this (5 min) need a time sync and distort frozen data."""

    timings: Mapping[AnomalyKind, Timing] = field(default_factory=lambda: DEFAULT_TIMINGS)

    def __post_init__(self) -> None:
        if self.group_low_clear_fraction > self.group_low_fraction:
            raise _invalid("group_low_clear_fraction", "must not exceed group_low_fraction")
        if self.outage_clear_fraction > self.outage_fraction:
            raise _invalid("outage_clear_fraction", "must not exceed outage_fraction")
        if self.heavy_load_rate > self.overload_rate:
            raise _invalid("heavy_load_rate", "must not exceed overload_rate")
        merged = dict(DEFAULT_TIMINGS)
        merged.update(self.timings)
        object.__setattr__(self, "timings", MappingProxyType(merged))

    def timing(self, kind: AnomalyKind) -> Timing:
        return self.timings[kind]


@functools.cache
def anomaly_table() -> TypeAdapter[AnomalyConfig]:
    """Reads an ``[anomaly]`` table into an ``AnomalyConfig`` (built once, when first needed).

    The only reader of the table: ``headend.config`` calls it and names the file and key of
    a ``ValidationError`` the way it does for every other table."""
    return TypeAdapter(AnomalyConfig)


def _invalid(key: str, problem: str) -> AnomalyConfigError:
    return AnomalyConfigError(f"{key}: {problem}", key=key, problem=problem)
