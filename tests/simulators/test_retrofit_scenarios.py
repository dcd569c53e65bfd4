"""The retrofit story in figures: before, the evening peak breaks limits; after, it does not.

Limits: GB/T 12325-2008 (198-235.4 V for 220 V supply) and 100% of rated kVA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pytest

from simulators.community.model import Community
from simulators.scenario import Scenario

LOW_V, HIGH_V = 198.0, 235.4


@dataclass(frozen=True)
class Extremes:
    min_voltage: float
    max_voltage: float
    max_load_rate: float


def _extremes(
    scenario: Scenario, seed: int, start_h: float, end_h: float, step_min: int
) -> Extremes:
    community = Community.from_scenario(scenario, seed)
    low, high, load = np.inf, -np.inf, 0.0
    for minutes in range(int(start_h * 60), int(end_h * 60), step_min):
        community.advance_to(scenario.start + timedelta(minutes=minutes))
        fleet = community.fleet_arrays()
        low = min(low, float(np.nanmin(fleet.voltage)))
        high = max(high, float(np.nanmax(fleet.voltage)))
        load = max(load, float(fleet.load_rate.max()))
    return Extremes(low, high, load)


@pytest.mark.parametrize("seed", [0, 1])
def test_before_evening_peak_is_low_voltage_and_overload(
    retrofit_before: Scenario, seed: int
) -> None:
    peak = _extremes(retrofit_before, seed, 18, 23, 10)
    assert peak.min_voltage < LOW_V
    assert peak.max_load_rate > 100.0


@pytest.mark.parametrize("seed", [0, 1])
def test_after_whole_day_stays_within_limits(retrofit_after: Scenario, seed: int) -> None:
    day = _extremes(retrofit_after, seed, 0, 24, 20)
    assert day.min_voltage >= LOW_V
    assert day.max_voltage <= HIGH_V
    assert day.max_load_rate < 100.0


def test_after_has_the_same_households_as_before(
    retrofit_before: Scenario, retrofit_after: Scenario
) -> None:
    before = {(m.id, m.address, m.kind) for m in retrofit_before.meters}
    after = {(m.id, m.address, m.kind) for m in retrofit_after.meters}
    assert before == after
    rated_before = sum(t.rated_kva for t in retrofit_before.transformers)
    rated_after = sum(t.rated_kva for t in retrofit_after.transformers)
    households = sum(b.households for b in retrofit_after.buildings)
    assert rated_before / households == pytest.approx(1.6, abs=0.05)
    assert rated_after / households == pytest.approx(4.1, abs=0.05)
