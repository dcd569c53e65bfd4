"""Thresholds and timings of the anomaly rules, validated when loaded.

Defaults come from GB/T 12325-2008 (supply voltage deviation), GB/T 15543-2008 (three-phase
voltage unbalance) and distribution practice (transformer heavy load 80 %, overload 100 %,
current unbalance 15 %, low-voltage user below the limit for over an hour). One ``AnomalyConfig``
describes one site; sites with other limits load their own from TOML.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AllowInfNan, ConfigDict, Strict, TypeAdapter, ValidationError

from headend.anomaly.errors import AnomalyConfigError
from headend.anomaly.events import AnomalyKind
from storage.records import FailureReason

Number = Annotated[float, Strict(), AllowInfNan(False)]
"""A TOML number, never ``true`` or ``"0.8"``; ints are taken as floats."""
_TABLE = ConfigDict(extra="forbid")
"""How pydantic reads these dataclasses from a TOML table: unknown keys are typos."""


@dataclass(frozen=True, slots=True)
class VoltageBand:
    """Allowed supply voltage band around a nominal phase voltage, in percent of nominal."""

    __pydantic_config__ = _TABLE

    nominal_v: Number
    lower_pct: Number
    upper_pct: Number

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

    min_duration_s: Number
    clear_after_s: Number


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
    (``anomaly_table``), and ``__post_init__`` checks what types cannot say."""

    __pydantic_config__ = _TABLE

    single_phase: VoltageBand = VoltageBand(220.0, 10.0, 7.0)
    """GB/T 12325-2008: 220 V single-phase supply, +7 % / -10 % (198-235.4 V)."""
    three_phase: VoltageBand = VoltageBand(220.0, 7.0, 7.0)
    """GB/T 12325-2008: 380 V three-phase, +-7 %; judged on the 220 V phase voltages."""
    voltage_hysteresis_v: Number = 2.0
    """A low (high) voltage clears only once back this far inside the band."""
    zero_voltage_v: Number = 10.0
    """At or below this on every phase a meter reports 'no supply', not 'low voltage'."""

    group_low_fraction: Number = 0.2
    """A transformer or building is low when this share of its meters is below the limit ..."""
    group_low_clear_fraction: Number = 0.1
    """... and stops being low when fewer than this share are."""

    heavy_load_rate: Number = 0.8
    overload_rate: Number = 1.0
    load_hysteresis: Number = 0.05
    assumed_power_factor: Number = 0.95
    """Active power is converted to apparent power with this when the terminal gives only kW."""
    min_meter_coverage: Number = 0.5
    """Summing meters gives a load only when at least this share of them answered."""

    current_unbalance_limit: Number = 0.15
    """(Imax - Imin) / Imax of the transformer's phase currents (practice for Yyn0)."""
    current_unbalance_hysteresis: Number = 0.03
    unbalance_min_load_rate: Number = 0.1
    """Below this share of rated current unbalance is not judged: light loads are always uneven."""
    voltage_unbalance_limit: Number = 0.02
    """GB/T 15543-2008 normal limit 2 % (4 % short-time), approximated from phase magnitudes."""
    voltage_unbalance_hysteresis: Number = 0.005

    outage_fraction: Number = 0.5
    """This share of a transformer's meters silent or at zero volts is one transformer outage."""
    outage_clear_fraction: Number = 0.2
    outage_min_meters: Number = 3.0
    silent_reasons: tuple[Annotated[str, Strict()], ...] = (FailureReason.TIMEOUT.value,)
    """Failure reasons meaning 'nobody answered': a dead or unpowered meter looks like this."""
    link_reasons: tuple[Annotated[str, Strict()], ...] = (FailureReason.CONNECTION_LOST.value,)
    """Failure reasons meaning 'the channel to the meter is down' (DTU, concentrator, gateway)."""

    energy_tolerance_kwh: Number = 0.01
    """Register rounding: steps smaller than this are neither backwards nor reverse energy."""
    single_phase_max_kw: Number = 13.2
    """Most a single-phase meter can pass (60 A at 220 V); more energy than this is a jump."""
    three_phase_max_kw: Number = 66.0
    """Most a three-phase meter can pass (100 A at 220 V on three phases)."""
    clock_drift_limit_s: Number = 300.0
    """Meter clocks further off than this (5 min) need a time sync and distort frozen data."""

    timings: Mapping[AnomalyKind, Timing] = field(default_factory=lambda: DEFAULT_TIMINGS)

    def __post_init__(self) -> None:
        for band_name in ("single_phase", "three_phase"):
            band: VoltageBand = getattr(self, band_name)
            if not (band.nominal_v > 0 and 0 <= band.lower_pct < 100 and band.upper_pct >= 0):
                raise _invalid(band_name, f"band {band} is not a valid voltage band")
        for name in _FRACTIONS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise _invalid(name, f"{value} is not a fraction between 0 and 1")
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise _invalid(name, f"{value} must be a finite number >= 0")
        if not 0.0 < self.assumed_power_factor <= 1.0:
            raise _invalid("assumed_power_factor", f"{self.assumed_power_factor} must be in (0, 1]")
        if self.group_low_clear_fraction > self.group_low_fraction:
            raise _invalid("group_low_clear_fraction", "must not exceed group_low_fraction")
        if self.outage_clear_fraction > self.outage_fraction:
            raise _invalid("outage_clear_fraction", "must not exceed outage_fraction")
        if self.heavy_load_rate > self.overload_rate:
            raise _invalid("heavy_load_rate", "must not exceed overload_rate")
        merged = dict(DEFAULT_TIMINGS)
        merged.update(self.timings)
        for kind, timing in merged.items():
            if not (timing.min_duration_s >= 0 and timing.clear_after_s >= 0):
                raise _invalid(f"timings.{kind}", f"durations must be >= 0, got {timing}")
        object.__setattr__(self, "timings", MappingProxyType(merged))

    def timing(self, kind: AnomalyKind) -> Timing:
        return self.timings[kind]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<mapping>") -> AnomalyConfig:
        """Build from parsed TOML; unknown or mistyped keys are errors naming key and source."""
        try:
            return anomaly_table().validate_python(data)
        except ValidationError as exc:
            details = exc.errors(include_url=False)[0]
            cause = (details.get("ctx") or {}).get("error")
            if isinstance(cause, AnomalyConfigError):
                key, problem = cause.key, cause.problem
            else:
                parts = [str(p) for p in details["loc"] if p != "[key]"]
                key, problem = ".".join(parts) or None, details["msg"]
            where = f"{key}: " if key else ""
            raise AnomalyConfigError(
                f"{source}: {where}{problem}", key=key, problem=problem
            ) from None


@functools.cache
def anomaly_table() -> TypeAdapter[AnomalyConfig]:
    """Reads an ``[anomaly]`` table into an ``AnomalyConfig`` (built once, when first needed)."""
    return TypeAdapter(AnomalyConfig)


def load_config(path: Path, table: str = "anomaly") -> AnomalyConfig:
    """Read ``[anomaly]`` (or another table) from a TOML file; a missing table means defaults."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise AnomalyConfigError(f"{path}: not valid TOML: {exc}") from None
    section = document.get(table, {})
    if not isinstance(section, dict):
        raise AnomalyConfigError(f"{path}: [{table}] must be a table")
    return AnomalyConfig.from_mapping(section, f"{path} [{table}]")


_FRACTIONS = (
    "group_low_fraction",
    "group_low_clear_fraction",
    "heavy_load_rate",
    "load_hysteresis",
    "min_meter_coverage",
    "current_unbalance_limit",
    "current_unbalance_hysteresis",
    "unbalance_min_load_rate",
    "voltage_unbalance_limit",
    "voltage_unbalance_hysteresis",
    "outage_fraction",
    "outage_clear_fraction",
)
_NON_NEGATIVE = (
    "voltage_hysteresis_v",
    "zero_voltage_v",
    "overload_rate",
    "outage_min_meters",
    "energy_tolerance_kwh",
    "single_phase_max_kw",
    "three_phase_max_kw",
    "clock_drift_limit_s",
)


def _invalid(key: str, problem: str) -> AnomalyConfigError:
    return AnomalyConfigError(f"{key}: {problem}", key=key, problem=problem)
