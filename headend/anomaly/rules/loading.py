"""Transformer load rate against rated kVA, from the terminal or from the sum of its meters.

The terminal's own power wins when it has one. Otherwise the meters' powers are summed and
scaled up by the share that answered, but only when enough answered: an estimate from a few
meters would raise overloads out of thin air (or hide real ones).
"""

from __future__ import annotations

import numpy as np

from headend.anomaly.grouping import FloatArray, Grouping


def transformer_power_kw(
    terminal_kw: FloatArray,
    meter_kw: FloatArray,
    by_transformer: Grouping,
    min_coverage: float,
) -> FloatArray:
    """Active power per transformer; NaN where neither terminal nor enough meters know it."""
    answered = by_transformer.count(~np.isnan(meter_kw)).astype(np.float64)
    total = by_transformer.sum(meter_kw)
    members = by_transformer.counts.astype(np.float64)
    coverage = np.divide(answered, members, out=np.zeros_like(answered), where=members > 0)
    scaled = np.divide(total * members, answered, out=np.zeros_like(total), where=answered > 0)
    estimate = np.where((coverage >= min_coverage) & (answered > 0), scaled, np.nan)
    return np.where(np.isnan(terminal_kw), estimate, terminal_kw)


def load_rate(power_kw: FloatArray, rated_kva: FloatArray, power_factor: float) -> FloatArray:
    """Apparent power over rating (1.0 = 100 %), from active power and an assumed power factor."""
    return np.abs(power_kw) / power_factor / rated_kva
