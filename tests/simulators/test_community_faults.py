"""Faults the physical model applies, and the schedule the wire simulators will query."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pytest

from simulators.community.faults import Fault, FaultKind, TargetKind
from simulators.community.model import Community
from simulators.scenario import Scenario, load_scenario


def _with(scenario: Scenario, *faults: Fault) -> Scenario:
    return dataclasses.replace(scenario, faults=faults)


def _pair(scenario: Scenario, *faults: Fault, seed: int = 11) -> tuple[Community, Community]:
    """A clean community and a faulted twin with the same seed."""
    return Community(scenario, seed), Community(_with(scenario, *faults), seed)


def _at(scenario: Scenario, hours: float) -> datetime:
    return scenario.start + timedelta(hours=hours)


def _both(pair: tuple[Community, Community], moment: datetime) -> None:
    for community in pair:
        community.advance_to(moment)


def test_voltage_sag_on_one_meter_scales_only_that_meter(smoke: Scenario) -> None:
    sag = Fault(
        FaultKind.VOLTAGE_SAG,
        TargetKind.METER,
        "S2-H001",
        _at(smoke, 19),
        _at(smoke, 20),
        factor=0.7,
    )
    clean, faulted = pair = _pair(smoke, sag)
    _both(pair, _at(smoke, 19.5))
    assert faulted.meter_values("S2-H001").voltage_a == pytest.approx(
        0.7 * clean.meter_values("S2-H001").voltage_a
    )
    assert faulted.meter_values("S1-H001").voltage_a == clean.meter_values("S1-H001").voltage_a
    _both(pair, _at(smoke, 20))
    assert faulted.meter_values("S2-H001").voltage_a == clean.meter_values("S2-H001").voltage_a


def test_voltage_swell_on_a_transformer_lifts_everything_behind_it(smoke: Scenario) -> None:
    swell = Fault(FaultKind.VOLTAGE_SWELL, TargetKind.TRANSFORMER, "T1", factor=1.1)
    clean, faulted = pair = _pair(smoke, swell)
    _both(pair, _at(smoke, 3))
    np.testing.assert_allclose(
        faulted.fleet_arrays().voltage, 1.1 * clean.fleet_arrays().voltage, rtol=1e-12
    )
    assert faulted.transformer_values("T1").voltage_a == pytest.approx(
        1.1 * clean.transformer_values("T1").voltage_a
    )


def test_transformer_outage_kills_voltage_power_and_energy(smoke: Scenario) -> None:
    outage = Fault(
        FaultKind.TRANSFORMER_OUTAGE, TargetKind.TRANSFORMER, "T1", _at(smoke, 19), _at(smoke, 21)
    )
    clean, faulted = pair = _pair(smoke, outage)
    _both(pair, _at(smoke, 19))
    energy_at_start = faulted.fleet_arrays().energy_import
    _both(pair, _at(smoke, 20))
    fleet = faulted.fleet_arrays()
    assert np.all(np.nan_to_num(fleet.voltage) == 0)
    assert np.all(np.nan_to_num(fleet.current) == 0)
    assert np.all(fleet.power_active == 0)
    assert faulted.transformer_values("T1").load_rate == 0
    np.testing.assert_array_equal(fleet.energy_import, energy_at_start)
    assert np.all(clean.fleet_arrays().energy_import >= energy_at_start)
    assert clean.fleet_arrays().power_active.sum() > 0
    _both(pair, _at(smoke, 22))
    after = faulted.fleet_arrays()
    assert np.all(np.nanmin(after.voltage, axis=1) > 200)
    assert after.energy_import.sum() > energy_at_start.sum()


def test_energy_backwards_runs_the_register_down_by_the_consumption(smoke: Scenario) -> None:
    backwards = Fault(
        FaultKind.ENERGY_BACKWARDS, TargetKind.METER, "S1-H002", _at(smoke, 18), _at(smoke, 21)
    )
    clean, faulted = pair = _pair(smoke, backwards)
    _both(pair, _at(smoke, 18))
    start = faulted.meter_values("S1-H002").energy_active_import_total
    _both(pair, _at(smoke, 21))
    consumed = clean.meter_values("S1-H002").energy_active_import_total - start
    assert consumed > 0
    assert faulted.meter_values("S1-H002").energy_active_import_total == pytest.approx(
        start - consumed
    )
    assert faulted.meter_values("S1-H001").energy_active_import_total == pytest.approx(
        clean.meter_values("S1-H001").energy_active_import_total
    )


def test_clock_drift_accumulates_and_a_sync_resets_it(smoke: Scenario) -> None:
    drift = Fault(FaultKind.CLOCK_DRIFT, TargetKind.METER, "S1-H003", seconds_per_day=30.0)
    community = Community(_with(smoke, drift), 0)
    community.advance_to(smoke.start + timedelta(days=2))
    assert community.meter_clock("S1-H003") - community.now == timedelta(seconds=60)
    assert community.meter_clock("S1-H001") == community.now
    community.sync_clock("S1-H003")
    community.advance_to(smoke.start + timedelta(days=2, hours=12))
    assert community.meter_clock("S1-H003") - community.now == timedelta(seconds=15)


def test_missing_frozen_deletes_only_the_listed_days(smoke: Scenario) -> None:
    day1 = smoke.start.date() + timedelta(days=1)
    missing = Fault(FaultKind.MISSING_FROZEN, TargetKind.BUS, "bus-S2", days=(day1,))
    community = Community(_with(smoke, missing), 0)
    community.advance_to(smoke.start + timedelta(days=2, hours=1))
    assert community.daily_frozen("S2-H001", day1) is None
    assert community.daily_frozen("S2-H001", day1 + timedelta(days=1)) is not None
    assert community.daily_frozen("S1-H001", day1) is not None


def test_meter_replaced_gets_a_new_address_and_a_fresh_register(smoke: Scenario) -> None:
    swap = Fault(
        FaultKind.METER_REPLACED,
        TargetKind.METER,
        "S1-H001",
        _at(smoke, 10),
        new_address="999999999999",
    )
    community = Community(_with(smoke, swap), 0)
    community.advance_to(_at(smoke, 9))
    old = community.meter_values("S1-H001")
    assert old.address == smoke.meter("S1-H001").address
    community.advance_to(_at(smoke, 12))
    new = community.meter_values("S1-H001")
    assert new.address == "999999999999"
    assert 0 < new.energy_active_import_total < old.energy_active_import_total


def test_communication_faults_are_scheduled_not_applied(smoke: Scenario) -> None:
    slow = Fault(
        FaultKind.SLOW_REPLY, TargetKind.BUS, "bus-S2", _at(smoke, 1), _at(smoke, 2), delay_ms=300
    )
    clean, faulted = pair = _pair(smoke, slow)
    _both(pair, _at(smoke, 1.5))
    np.testing.assert_array_equal(clean.fleet_arrays().voltage, faulted.fleet_arrays().voltage)
    assert faulted.active_faults("S2-H003") == (slow,)
    assert faulted.active_faults("S1-H003") == ()
    schedule = faulted.faults
    assert schedule.active("S2-H003", _at(smoke, 2)) == ()
    assert schedule.active("S2-H003", _at(smoke, 0.5)) == ()
    assert schedule.active_on_bus("bus-S2", _at(smoke, 1)) == (slow,)


def test_every_fault_kind_loads_from_the_ev_scenario() -> None:
    scenario = load_scenario("old-community-ev")
    assert {f.kind for f in scenario.faults} == set(FaultKind)
    schedule = scenario.fault_schedule()
    replaced = schedule.of_kind(FaultKind.METER_REPLACED)[0]
    assert schedule.meters_reached(replaced) == (replaced.target,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": FaultKind.SLOW_REPLY}, "needs 'delay_ms'"),
        ({"kind": FaultKind.VOLTAGE_SAG, "factor": 1.2}, r"\[0, 1\)"),
        ({"kind": FaultKind.TRANSFORMER_OUTAGE}, "must target a transformer"),
        ({"kind": FaultKind.METER_REPLACED, "new_address": "12ab"}, "12 decimal digits"),
        ({"kind": FaultKind.ERROR_RESPONSE, "error_word": 300}, "one byte"),
    ],
)
def test_bad_faults_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(target_kind=TargetKind.METER, target="m", **kwargs)  # type: ignore[arg-type]
