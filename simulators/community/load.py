"""Demand of every meter, minute by minute, one local day at a time.

Demand is a pure function of (seed, meter, minute): random numbers are drawn per local day from
a seed derived from (seed, stream, day), never from call history. So advancing in one hour or in
sixty one-minute steps gives the same values, and two runs with one seed agree exactly.
Loads are constant-power (what they draw does not depend on voltage), which keeps energy
independent of the network solve.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from simulators.scenario import LoadKind, LoadSpec, Scenario

MINUTES_PER_DAY = 1440
FloatArray = npt.NDArray[np.float64]

_STATIC_STREAM = 0
_HOUSEHOLD_STREAM = 1
_EV_STREAM = 2
_PUBLIC_STREAM = 3


def profile_at(profile: tuple[float, ...], hours: FloatArray) -> FloatArray:
    """Linear interpolation of an hourly profile (value i at i:00), wrapping at midnight."""
    knots = np.arange(25, dtype=np.float64)
    values = np.array((*profile, profile[0]), dtype=np.float64)
    result: FloatArray = np.interp(np.mod(hours, 24.0), knots, values)
    return result


@dataclass(frozen=True, slots=True)
class MeterTraits:
    """Per-meter constants drawn once from the seed: who is a big consumer, who eats late."""

    scale: FloatArray
    shift_minutes: FloatArray
    power_factor: FloatArray
    initial_energy_kwh: FloatArray


class LoadModel:
    """Demand matrices (minute x meter, kW) per local day, with a small cache."""

    def __init__(self, scenario: Scenario, seed: int, *, cache_days: int = 3) -> None:
        self._spec: LoadSpec = scenario.load
        self._seed = seed
        kinds = [m.kind for m in scenario.meters]
        self.household = np.array([k is LoadKind.HOUSEHOLD for k in kinds])
        self.ev = np.array([k is LoadKind.EV_PILE for k in kinds])
        self.public = np.array([k is LoadKind.PUBLIC for k in kinds])
        public_kw = {b.id: b.public_kw for b in scenario.buildings}
        self._public_rating = np.array(
            [public_kw[m.building] for m in scenario.meters if m.kind is LoadKind.PUBLIC]
        )
        self.traits = self._draw_traits(len(kinds))
        self._cache: OrderedDict[date, FloatArray] = OrderedDict()
        self._cache_days = cache_days

    def _draw_traits(self, count: int) -> MeterTraits:
        spec = self._spec
        rng = np.random.default_rng([self._seed, _STATIC_STREAM])
        sigma = spec.household_spread
        scale = np.exp(rng.normal(0.0, sigma, count) - sigma * sigma / 2.0)
        shift = rng.normal(0.0, spec.household_shift_minutes, count)
        base_pf = np.where(
            self.household,
            spec.household_power_factor,
            np.where(self.ev, spec.ev_power_factor, spec.public_power_factor),
        )
        pf = np.clip(base_pf + rng.uniform(-0.02, 0.02, count), 0.5, 0.995)
        pf = np.where(self.ev, spec.ev_power_factor, pf)
        initial = rng.uniform(500.0, 20000.0, count)
        return MeterTraits(
            scale=scale, shift_minutes=shift, power_factor=pf, initial_energy_kwh=initial
        )

    def day_demand(self, day: date) -> FloatArray:
        """kW drawn by each meter in each minute of local ``day``; shape (1440, meters)."""
        cached = self._cache.get(day)
        if cached is not None:
            self._cache.move_to_end(day)
            return cached
        demand = np.zeros((MINUTES_PER_DAY, self.household.size))
        demand[:, self.household] = self._households(day)
        demand[:, self.ev] = self._ev_piles(day)
        demand[:, self.public] = self._public(day)
        demand.setflags(write=False)
        self._cache[day] = demand
        if len(self._cache) > self._cache_days:
            self._cache.popitem(last=False)
        return demand

    def _households(self, day: date) -> FloatArray:
        spec = self._spec
        weekend = day.weekday() >= 5
        profile = spec.household_weekend_profile_kw if weekend else spec.household_profile_kw
        minutes = np.arange(MINUTES_PER_DAY, dtype=np.float64)[:, None]
        shift = self.traits.shift_minutes[self.household][None, :]
        base = profile_at(profile, (minutes - shift) / 60.0)
        rng = np.random.default_rng([self._seed, _HOUSEHOLD_STREAM, day.toordinal()])
        noise = rng.normal(0.0, spec.household_noise, base.shape)
        scaled: FloatArray = base * self.traits.scale[self.household][None, :]
        return np.maximum(scaled * (1.0 + noise), 0.0)

    def _sessions(self, day: date) -> tuple[FloatArray, FloatArray]:
        """EV charging sessions starting on ``day``: (start, end) in minutes after its midnight.

        A pile that does not charge that day gets an empty session (start == end).
        """
        spec = self._spec
        count = int(self.ev.sum())
        rng = np.random.default_rng([self._seed, _EV_STREAM, day.toordinal()])
        charging = rng.random(count) < spec.ev_daily_probability
        arrival_h = np.clip(
            rng.normal(spec.ev_arrival_mean_hour, spec.ev_arrival_sd_hours, count),
            spec.ev_arrival_earliest_hour,
            spec.ev_arrival_latest_hour,
        )
        energy = rng.uniform(spec.ev_energy_min_kwh, spec.ev_energy_max_kwh, count)
        start = arrival_h * 60.0
        end = start + np.where(charging, energy / spec.ev_kw * 60.0, 0.0)
        return start, end

    def _ev_piles(self, day: date) -> FloatArray:
        midpoints = np.arange(MINUTES_PER_DAY, dtype=np.float64)[:, None] + 0.5
        start, end = self._sessions(day)
        start_prev, end_prev = self._sessions(date.fromordinal(day.toordinal() - 1))
        on = (midpoints >= start) & (midpoints < end)
        on |= (midpoints >= start_prev - MINUTES_PER_DAY) & (midpoints < end_prev - MINUTES_PER_DAY)
        return np.where(on, self._spec.ev_kw, 0.0)

    def _public(self, day: date) -> FloatArray:
        hours = np.arange(MINUTES_PER_DAY, dtype=np.float64)[:, None] / 60.0
        base = profile_at(self._spec.public_profile, hours) * self._public_rating[None, :]
        rng = np.random.default_rng([self._seed, _PUBLIC_STREAM, day.toordinal()])
        noise = rng.normal(0.0, 0.1, base.shape)
        result: FloatArray = np.maximum(base * (1.0 + noise), 0.0)
        return result
