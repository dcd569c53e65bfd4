"""Suspicious energy registers: going backwards, impossible jumps, unexpected export, clock drift.

Each rule judges the step between the last two good reads, so it holds until the next read and
the lifecycle clears it when that read is normal again.
"""

from __future__ import annotations

import numpy as np

from headend.anomaly.grouping import BoolArray, FloatArray

SECONDS_PER_HOUR = 3600.0


def register_step(current: FloatArray, previous: FloatArray) -> FloatArray:
    """Change between the last two reads; NaN until two reads exist."""
    return current - previous


def went_backwards(step_kwh: FloatArray, tolerance_kwh: float) -> BoolArray:
    """An accumulating register decreased by more than rounding."""
    return step_kwh < -tolerance_kwh


def implied_power_kw(step_kwh: FloatArray, interval_s: FloatArray) -> FloatArray:
    """Average power the step implies over its interval (NaN/inf without a positive interval)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        power: FloatArray = step_kwh * SECONDS_PER_HOUR / interval_s
    return power


def jumped(
    step_kwh: FloatArray,
    interval_s: FloatArray,
    max_kw: FloatArray,
    tolerance_kwh: float,
) -> BoolArray:
    """More energy than the meter can physically pass at its maximum power in the interval."""
    return step_kwh > max_kw * (interval_s / SECONDS_PER_HOUR) + tolerance_kwh


def unexpected_export(
    step_kwh: FloatArray, expects_export: BoolArray, tolerance_kwh: float
) -> BoolArray:
    """Export register advanced on a meter with no generation behind it (wiring or tamper)."""
    return (step_kwh > tolerance_kwh) & ~expects_export


def clock_off(drift_s: FloatArray, limit_s: float) -> BoolArray:
    """Meter clock further from the head-end clock than the limit, either way."""
    return np.abs(drift_s) > limit_s
