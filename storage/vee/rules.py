"""Validation rules over daily consumption and register reads: findings, never corrections.

A finding names the rule, the meter, the day and what was seen, so an operator can look and
edit. The rules that compare a meter with its own history run over a meters x days array with
numpy (a transformer area of hundreds of meters for a month is one call).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Final

import numpy as np

from storage.consumption import DECREASE_TOLERANCE, DailyConsumption
from storage.tariffs import tariff_of
from storage.vee.reads import ValueQuality

REGISTER_DECREASE: Final = "register_decrease"
SPIKE: Final = "spike"
TARIFF_SUM: Final = "tariff_sum"
CLOCK_DRIFT: Final = "clock_drift"
ZERO_CONSUMPTION: Final = "zero_consumption"


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    meter: str
    day: date
    detail: str
    quantity: str = ""


@dataclass(frozen=True, slots=True)
class RuleLimits:
    """The thresholds of the rules (defaults suit household meters read daily)."""

    spike_factor: float = 5.0
    """A day above this many times the meter's median day is a spike..."""
    spike_floor_kwh: float = 5.0
    """...and above this much: a flat that usually uses 0.2 kWh may use 2 without a finding."""
    spike_min_days: int = 5
    """Days of own history a meter needs before it is judged."""
    tariff_tolerance_kwh: float = 0.01
    tariff_tolerance_share: float = 0.01
    clock_drift_s: float = 300.0
    zero_days: int = 3
    """Consecutive days of zero consumption on an occupied household that make a finding."""


DEFAULT_LIMITS: Final = RuleLimits()


def register_decreases(rows: Iterable[DailyConsumption]) -> list[Finding]:
    """Registers never go down except at an exchange (an exchange is bridged before this)."""
    return [
        Finding(
            REGISTER_DECREASE,
            row.meter,
            row.day,
            f"register went down by {-row.raw:.4f} with no exchange recorded",
            row.quantity,
        )
        for row in rows
        if row.raw is not None and row.raw < -DECREASE_TOLERANCE
    ]


def consumption_matrix(
    rows: Iterable[DailyConsumption], meters: Sequence[str], days: Sequence[date], quantity: str
) -> np.ndarray:
    """meters x days of ``quantity``'s consumption, NaN where there is no value."""
    matrix = np.full((len(meters), len(days)), np.nan)
    meter_index = {meter: i for i, meter in enumerate(meters)}
    day_index = {day: j for j, day in enumerate(days)}
    for row in rows:
        i, j = meter_index.get(row.meter), day_index.get(row.day)
        if row.quantity == quantity and row.value is not None and i is not None and j is not None:
            matrix[i, j] = row.value
    return matrix


def spikes(
    matrix: np.ndarray,
    meters: Sequence[str],
    days: Sequence[date],
    quantity: str,
    limits: RuleLimits = DEFAULT_LIMITS,
) -> list[Finding]:
    """Days far above the meter's own median day (its history, not the neighbours')."""
    if matrix.size == 0:
        return []
    counted = np.sum(~np.isnan(matrix), axis=1)
    with warnings.catch_warnings():  # a meter without any value has no median: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(matrix, axis=1)
    high = (matrix > limits.spike_factor * median[:, None]) & (matrix > limits.spike_floor_kwh)
    high &= (counted >= limits.spike_min_days)[:, None]
    return [
        Finding(
            SPIKE,
            meters[i],
            days[j],
            f"{matrix[i, j]:.3f} kWh in the day, {matrix[i, j] / max(median[i], 1e-9):.1f}"
            f" x its median day of {median[i]:.3f} kWh",
            quantity,
        )
        for i, j in zip(*np.nonzero(high), strict=True)
    ]


def tariff_sums(
    rows: Iterable[DailyConsumption], total: str, limits: RuleLimits = DEFAULT_LIMITS
) -> list[Finding]:
    """The day's tariffs (尖峰平谷) must add up to its total, within rounding."""
    by_day: dict[tuple[str, date], dict[str, DailyConsumption]] = {}
    for row in rows:
        by_day.setdefault((row.meter, row.day), {})[row.quantity] = row
    found = []
    for (meter, day), quantities in by_day.items():
        whole = quantities.get(total)
        parts = [r for q, r in quantities.items() if tariff_of(q) is not None]
        if whole is None or whole.value is None or not parts:
            continue
        if any(p.value is None for p in parts) or whole.quality is ValueQuality.ESTIMATED:
            continue
        summed = sum(p.value for p in parts if p.value is not None)
        allowed = max(limits.tariff_tolerance_kwh, limits.tariff_tolerance_share * whole.value)
        if abs(summed - whole.value) > allowed:
            found.append(
                Finding(
                    TARIFF_SUM,
                    meter,
                    day,
                    f"tariffs add up to {summed:.4f} kWh, the total is {whole.value:.4f} kWh",
                    total,
                )
            )
    return found


def clock_drifts(
    drifts: Iterable[tuple[str, datetime, float]],
    tz: tzinfo,
    limits: RuleLimits = DEFAULT_LIMITS,
) -> list[Finding]:
    """Clock checks (meter, when, drift in s) over the limit: its freezes may be of the wrong
    instant, so its day boundaries are in doubt."""
    return [
        Finding(
            CLOCK_DRIFT,
            meter,
            at.astimezone(tz).date(),
            f"clock {drift:+.0f} s off at {at.isoformat()} (limit {limits.clock_drift_s:.0f} s)",
        )
        for meter, at, drift in drifts
        if abs(drift) > limits.clock_drift_s
    ]


def zero_runs(
    matrix: np.ndarray,
    meters: Sequence[str],
    days: Sequence[date],
    occupied: Collection[str],
    quantity: str,
    limits: RuleLimits = DEFAULT_LIMITS,
) -> list[Finding]:
    """``zero_days`` or more days in a row without consumption on an occupied household: a
    stopped meter or a bypass, since fridges alone use energy every day."""
    found = []
    zero = np.abs(np.nan_to_num(matrix, nan=1.0)) < 1e-9
    for i, meter in enumerate(meters):
        if meter not in occupied:
            continue
        run_start: int | None = None
        for j in range(len(days) + 1):
            if j < len(days) and zero[i, j]:
                run_start = j if run_start is None else run_start
                continue
            if run_start is not None and j - run_start >= limits.zero_days:
                found.append(
                    Finding(
                        ZERO_CONSUMPTION,
                        meter,
                        days[run_start],
                        f"no consumption for {j - run_start} days ({days[run_start]} to"
                        f" {days[j - 1]})",
                        quantity,
                    )
                )
            run_start = None
    return found


def validate(
    rows: Sequence[DailyConsumption],
    meters: Sequence[str],
    days: Sequence[date],
    total: str,
    *,
    occupied: Collection[str] = (),
    drifts: Iterable[tuple[str, datetime, float]] = (),
    tz: tzinfo | None = None,
    limits: RuleLimits = DEFAULT_LIMITS,
) -> list[Finding]:
    """Every rule over one request's rows, ordered by meter, day and rule."""
    matrix = consumption_matrix(rows, meters, days, total)
    found = register_decreases(rows)
    found += spikes(matrix, meters, days, total, limits)
    found += tariff_sums(rows, total, limits)
    found += zero_runs(matrix, meters, days, occupied, total, limits)
    if tz is not None:
        found += clock_drifts(drifts, tz, limits)
    order: Mapping[str, int] = {meter: i for i, meter in enumerate(meters)}
    return sorted(found, key=lambda f: (order.get(f.meter, len(order)), f.day, f.rule))
