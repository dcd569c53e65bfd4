"""Three-phase unbalance of transformer currents and voltages.

Current unbalance is the distribution-practice figure (Imax - Imin) / Imax. Voltage unbalance
per GB/T 15543-2008 is the negative-sequence ratio, which needs phase angles that terminals
rarely report; the largest deviation from the mean magnitude over the mean is the usual
magnitude-only approximation and is what is computed here.
"""

from __future__ import annotations

import numpy as np

from headend.anomaly.grouping import FloatArray

SQRT3 = float(np.sqrt(3.0))


def current_unbalance(currents: FloatArray) -> FloatArray:
    """(Imax - Imin) / Imax per column of (3, n) phase currents, in [0, 1]; 0 with no current.

    Signs (direction of flow) are dropped; a row with any unknown phase gives NaN.
    """
    magnitude = np.abs(currents)
    highest = magnitude.max(axis=0)
    lowest = magnitude.min(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (highest - lowest) / highest
    return np.where(highest > 0, ratio, np.where(np.isnan(highest), np.nan, 0.0))


def voltage_unbalance(voltages: FloatArray) -> FloatArray:
    """max |V - mean| / mean per column of (3, n) phase voltages; NaN if unknown or no voltage."""
    mean: FloatArray = voltages.mean(axis=0)
    deviation: FloatArray = np.abs(voltages - mean).max(axis=0)
    ratio: FloatArray = np.divide(deviation, mean, out=np.full_like(mean, np.nan), where=mean > 0)
    return ratio


def rated_current_a(rated_kva: FloatArray, line_voltage_v: float = 400.0) -> FloatArray:
    """Rated secondary phase current of a three-phase transformer (400 V secondary by default)."""
    return rated_kva * 1000.0 / (SQRT3 * line_voltage_v)
