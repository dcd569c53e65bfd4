"""The transformer's LV meter behind its concentrator (台区总表): a month of freezes whose truth
is the model's transformer register, which a customer's meter exchange does not drop."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from simulators.community.faults import Fault, FaultKind, TargetKind
from simulators.community.model import Community
from simulators.concentrator.community import ConcentratorPlan, concentrators_for
from simulators.fleet_export import fleet_config_for
from simulators.runner import Endpoints
from simulators.scenario import load_scenario, lv_meter_id

DAY = date(2026, 7, 15)


def test_a_replaced_meters_energy_stays_in_its_transformers_register() -> None:
    scenario = load_scenario("smoke-lv")
    swap_at = datetime(2026, 7, 15, 10, 30, tzinfo=scenario.utc_offset)
    swap = Fault(
        FaultKind.METER_REPLACED, TargetKind.METER, "S2-H001", swap_at, new_address="000000000199"
    )
    replaced = Community(dataclasses.replace(scenario, faults=(swap,)), 0)
    clean = Community(scenario, 0)
    for community in (replaced, clean):
        community.advance_to(datetime.combine(DAY + timedelta(days=2), datetime.min.time(), UTC))
    for day in (DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)):
        frozen = replaced.transformer_frozen("T1", day)
        assert frozen == pytest.approx(clean.transformer_frozen("T1", day), rel=1e-12)
    assert replaced.transformer_values("T1").energy_active_import_total == pytest.approx(
        clean.transformer_values("T1").energy_active_import_total, rel=1e-12
    )
    # Without faults it is its meters' registers summed: no cable losses in the model.
    members = [m.id for m in scenario.meters if m.transformer == "T1"]
    day = DAY + timedelta(days=1)
    total = sum(clean.daily_frozen(m, day) or 0.0 for m in members)
    assert clean.transformer_frozen("T1", day) == pytest.approx(total, rel=1e-12)


def test_the_concentrator_holds_the_lv_meters_secondary_freeze_as_its_last_point() -> None:
    scenario = load_scenario("smoke-lv")
    community = Community(scenario, 0)
    now = datetime.combine(DAY + timedelta(days=2), datetime.min.time(), scenario.utc_offset)
    community.advance_to(now)
    (placed,) = concentrators_for(scenario, community, lambda: now, ConcentratorPlan(("h", 1)))
    last = placed.meters[-1]
    assert (last.point, last.meter_id) == (len(scenario.meters) + 1, lv_meter_id("T1"))
    (_, lv), *_ = scenario.lv_meters
    record = placed.concentrator.store.frozen(last.point, DAY)  # frozen at the end of DAY
    expected = community.transformer_frozen("T1", DAY + timedelta(days=1))
    assert record is not None
    assert expected is not None
    assert record[0] == pytest.approx(expected / (lv.ct_ratio * lv.pt_ratio), abs=1e-4)
    # No export register for it in the model: its F163 has no record (denied), and a
    # customer's point still answers.
    assert placed.concentrator.store.frozen_reverse(last.point, DAY) is None
    assert placed.concentrator.store.frozen_reverse(1, DAY) is not None
    # The fleet file reads it through the concentrator only: no Modbus channel nor meter.
    endpoints = Endpoints(
        {bus.id: "tcp://127.0.0.1:1" for bus in scenario.buses},
        None,
        lv_meters={"T1": "serial:///dev/null?baud=9600"},
        master=("127.0.0.1", 1),
        concentrators=(placed,),
    )
    document = fleet_config_for(scenario, endpoints)
    assert document["meters"] == []
    assert [c["name"] for c in document["channels"]] == [b.id for b in scenario.buses]
    (terminal,) = document["terminals"]
    assert terminal["meters"][-1]["id"] == lv_meter_id("T1")
