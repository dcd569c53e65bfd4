"""Transformer load rate against rated kVA, from the terminal or from the sum of its meters.

The terminal's own power wins when it has one. Otherwise the meters' powers are summed and
scaled up by the share that answered, but only when enough answered: an estimate from a few
meters would raise overloads out of thin air (or hide real ones).

``transformer_loading`` is the one place the load rate is computed: the overload and heavy-load
rules judge it and the API and dashboard show it, from the same snapshot, so the screen can
never say 121 % while the alarm says 127.5 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headend.anomaly.grouping import BoolArray, FloatArray, Grouping, IntArray


@dataclass(frozen=True, slots=True)
class TransformerLoading:
    """Per transformer (layout order): what the load rules judge, and where it came from."""

    power_kw: FloatArray
    """Active power the rate is computed from; NaN where it is not known now."""
    rate: FloatArray
    """Apparent power over rated kVA (1.0 = 100 %); NaN where the power is not known."""
    from_terminal: BoolArray
    """True where the terminal (or LV-side meter) measured the power; False where the meters'
    sum was used (or nothing was known)."""
    meters_kw: FloatArray
    """Sum of the load meters that answered (not scaled up), 0 where none did."""
    meters_answered: IntArray
    """Load meters with a current power reading."""


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


def transformer_loading(
    terminal_kw: FloatArray,
    meter_kw: FloatArray,
    by_transformer: Grouping,
    rated_kva: FloatArray,
    *,
    min_coverage: float,
    power_factor: float,
) -> TransformerLoading:
    """Power and load rate of every transformer, as the load rules and the API both use them."""
    power = transformer_power_kw(terminal_kw, meter_kw, by_transformer, min_coverage)
    return TransformerLoading(
        power_kw=power,
        rate=load_rate(power, rated_kva, power_factor),
        from_terminal=~np.isnan(terminal_kw),
        meters_kw=by_transformer.sum(meter_kw),
        meters_answered=by_transformer.count(~np.isnan(meter_kw)),
    )
