"""Physics of the community model: drops, integration, monotonic registers, determinism."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from simulators.community.errors import TimeWentBackwardsError, UnknownMeterError
from simulators.community.model import Community
from simulators.community.network import Network
from simulators.community.values import QUANTITY_UNITS
from simulators.scenario import MeterModel, Scenario


def _solve_uniform(scenario: Scenario, kw: float) -> np.ndarray:
    network = Network(scenario)
    n = len(scenario.meters)
    state = network.solve(
        np.full(n, kw), np.full(n, 0.95), np.ones(n), np.ones(1), np.ones(1, dtype=bool)
    )
    voltage: np.ndarray = state.meter_voltage
    return voltage


def test_voltage_drop_grows_with_load(smoke: Scenario) -> None:
    no_load = smoke.transformers[0].busbar_voltage_v
    light = no_load - np.nanmin(_solve_uniform(smoke, 0.5), axis=1)
    heavy = no_load - np.nanmin(_solve_uniform(smoke, 3.0), axis=1)
    assert np.all(light > 0)
    assert np.all(heavy > light)


def test_far_meters_see_lower_voltage_than_near_ones(smoke: Scenario) -> None:
    voltage = _solve_uniform(smoke, 2.0)
    by_id = {m.id: i for i, m in enumerate(smoke.meters)}
    for near, far in (("S1-H001", "S2-H001"), ("S1-H002", "S2-H002"), ("S1-H003", "S2-H003")):
        assert np.nanmin(voltage[by_id[far]]) < np.nanmin(voltage[by_id[near]])


def test_no_load_means_busbar_voltage_everywhere(smoke: Scenario) -> None:
    voltage = _solve_uniform(smoke, 0.0)
    assert np.nanmax(np.abs(voltage - smoke.transformers[0].busbar_voltage_v)) < 1e-9


def test_energy_is_the_integral_of_power(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=3)
    community.advance_to(smoke.start + timedelta(hours=17))
    before = community.fleet_arrays().energy_import
    integral = np.zeros_like(before)
    for _ in range(180):
        integral += community.fleet_arrays().power_active / 60.0  # held for one minute
        community.advance_by(timedelta(minutes=1))
    delta = community.fleet_arrays().energy_import - before
    assert integral.sum() > 0
    np.testing.assert_allclose(delta, integral, rtol=1e-9, atol=1e-9)


def test_step_size_does_not_change_the_registers(smoke: Scenario) -> None:
    coarse = Community.from_scenario(smoke, seed=5)
    fine = Community.from_scenario(smoke, seed=5)
    end = smoke.start + timedelta(days=1, hours=7, seconds=17)
    coarse.advance_to(end)
    while fine.now < end:
        fine.advance_to(min(end, fine.now + timedelta(minutes=7, seconds=13)))
    np.testing.assert_allclose(
        coarse.fleet_arrays().energy_import, fine.fleet_arrays().energy_import, rtol=1e-12
    )


def test_registers_never_decrease_without_a_fault(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=1)
    previous = community.fleet_arrays().energy_import
    for _ in range(2 * 24 * 4):
        community.advance_by(timedelta(minutes=15))
        current = community.fleet_arrays().energy_import
        assert np.all(current >= previous)
        previous = current


def test_same_seed_same_community_other_seed_differs(smoke: Scenario) -> None:
    moment = smoke.start + timedelta(hours=20, minutes=3)
    runs = []
    for seed in (7, 7, 8):
        community = Community.from_scenario(smoke, seed=seed)
        community.advance_to(moment)
        runs.append(community.fleet_arrays())
    np.testing.assert_array_equal(runs[0].power_active, runs[1].power_active)
    np.testing.assert_array_equal(runs[0].energy_import, runs[1].energy_import)
    assert not np.array_equal(runs[0].power_active, runs[2].power_active)


def test_evening_peak_and_night_trough(retrofit_before: Scenario) -> None:
    community = Community.from_scenario(retrofit_before, seed=0)
    totals = {}
    for hour in (3, 20):
        community.advance_to(retrofit_before.start + timedelta(hours=hour))
        totals[hour] = community.fleet_arrays().transformer_power_active.sum()
    assert totals[20] > 2.5 * totals[3]


def test_ev_piles_surge_in_the_evening(retrofit_before: Scenario) -> None:
    community = Community.from_scenario(retrofit_before, seed=0)
    piles = np.array([m.id.split("-")[1].startswith("EV") for m in retrofit_before.meters])
    by_hour = np.zeros(24)
    for minutes in range(0, 24 * 60, 10):
        community.advance_to(retrofit_before.start + timedelta(minutes=minutes))
        by_hour[minutes // 60] += community.fleet_arrays().power_active[piles].sum()
    evening = by_hour[18:23].mean()
    morning = by_hour[6:12].mean()
    assert evening > 5 * max(morning, 1e-9)
    assert set(np.unique(community.fleet_arrays().power_active[piles])) <= {0.0, 7.0}


def test_daily_frozen_is_the_register_at_local_midnight(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=2)
    day0 = smoke.start.date()
    assert community.daily_frozen("S1-H001", day0) == pytest.approx(
        community.meter_values("S1-H001").energy_active_import_total
    )
    community.advance_to(smoke.start + timedelta(days=1))
    at_midnight = community.meter_values("S1-H001").energy_active_import_total
    community.advance_to(smoke.start + timedelta(days=2, hours=5))
    assert community.daily_frozen("S1-H001", day0 + timedelta(days=1)) == at_midnight
    assert community.daily_frozen("S1-H001", day0 + timedelta(days=2)) is not None
    assert community.daily_frozen("S1-H001", day0 + timedelta(days=3)) is None


def test_transformer_totals_match_the_meters(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=4)
    community.advance_to(smoke.start + timedelta(hours=20))
    fleet = community.fleet_arrays()
    totals = community.transformer_values("T1")
    assert totals.power_active_total == pytest.approx(fleet.power_active.sum())
    assert totals.load_rate == pytest.approx(
        100
        * np.hypot(fleet.power_active.sum(), fleet.power_reactive.sum())
        / smoke.transformers[0].rated_kva
    )
    per_phase = np.nansum(fleet.current, axis=0)
    np.testing.assert_allclose(
        [totals.current_a, totals.current_b, totals.current_c], per_phase, rtol=1e-9
    )
    assert totals.winding_temperature > totals.oil_temperature > smoke.ambient_c


def test_oil_heats_through_the_evening_overload(retrofit_before: Scenario) -> None:
    community = Community.from_scenario(retrofit_before, seed=0)
    community.advance_to(retrofit_before.start + timedelta(hours=16))
    afternoon = community.transformer_values("T1").oil_temperature
    community.advance_to(retrofit_before.start + timedelta(hours=21, minutes=30))
    evening = community.transformer_values("T1").oil_temperature
    assert evening > afternoon + 5


def test_meter_values_follow_the_meter_model(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=0)
    community.advance_to(smoke.start + timedelta(hours=20))
    single = community.meter_values("S2-H002")
    three = community.meter_values("S1-P")
    assert single.model is MeterModel.SINGLE_PHASE
    assert single.voltage_b is None
    assert set(single.quantities()) < set(QUANTITY_UNITS)
    assert three.model is MeterModel.THREE_PHASE
    assert set(three.quantities()) == set(QUANTITY_UNITS)
    assert three.power_active_total == pytest.approx(
        sum(v for v in (three.power_active_a, three.power_active_b, three.power_active_c) if v)
    )
    assert 0 < single.power_factor_total <= 1
    assert abs(single.frequency - 50.0) < 0.2


def test_time_cannot_go_backwards(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=0)
    community.advance_to(smoke.start + timedelta(hours=1))
    with pytest.raises(TimeWentBackwardsError, match="already at"):
        community.advance_to(smoke.start)


def test_unknown_meter_is_named(smoke: Scenario) -> None:
    community = Community.from_scenario(smoke, seed=0)
    with pytest.raises(UnknownMeterError, match="nope"):
        community.meter_values("nope")


def test_kept_snapshots_are_what_each_meter_showed_at_that_boundary(smoke: Scenario) -> None:
    """A meter's load profile answers from these once the model has moved on: each must equal
    a fresh model stopped at that boundary, and only the last ``kept`` stay."""
    every = timedelta(minutes=15)
    keeping = Community.from_scenario(smoke, 3)
    keeping.keep_snapshots(every, kept=2)
    keeping.advance_to(smoke.start + timedelta(hours=1, minutes=7))  # one jump over 4 boundaries
    meter = smoke.meters[0].id
    boundaries = [smoke.start + every * k for k in range(1, 5)]
    assert keeping.snapshot(meter, boundaries[1]) is None  # older than the last two
    for boundary in boundaries[2:]:
        fresh = Community.from_scenario(smoke, 3)
        fresh.advance_to(boundary)
        shown = keeping.snapshot(meter, boundary)
        assert shown == pytest.approx(fresh.meter_values(meter).quantities(), rel=1e-12)
