"""Supply voltage deviation (GB/T 12325-2008) per meter, and its spread per group.

A meter is judged on its worst phase: the lowest present phase for 'low', the highest for
'high'. A meter whose phases are all near zero has lost supply; that is an outage, not a low
voltage, and is left to the outage rule.
"""

from __future__ import annotations

import numpy as np

from headend.anomaly.config import AnomalyConfig
from headend.anomaly.grouping import BoolArray, FloatArray


def phase_extremes(voltage: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Lowest and highest present phase per meter of (3, n) voltages; NaN phases are ignored."""
    lowest = np.fmin(np.fmin(voltage[0], voltage[1]), voltage[2])
    highest = np.fmax(np.fmax(voltage[0], voltage[1]), voltage[2])
    return lowest, highest


def voltage_limits(three_phase: BoolArray, config: AnomalyConfig) -> tuple[FloatArray, FloatArray]:
    """Lower and upper limit per meter from its supply type."""
    low = np.where(three_phase, config.three_phase.low_v, config.single_phase.low_v)
    high = np.where(three_phase, config.three_phase.high_v, config.single_phase.high_v)
    return low.astype(np.float64), high.astype(np.float64)


def no_supply(highest: FloatArray, zero_voltage_v: float) -> BoolArray:
    """Meters that answer but see (almost) no voltage on every phase."""
    return highest <= zero_voltage_v


def below(values: FloatArray, limit: FloatArray | float, supplied: BoolArray) -> BoolArray:
    """``values < limit`` for supplied meters; NaN (unknown) is never below."""
    return (values < limit) & supplied


def above(values: FloatArray, limit: FloatArray | float) -> BoolArray:
    """``values > limit``; NaN (unknown) is never above."""
    return values > limit
