"""One meter against the fleet: the error carries where, problem and the field at fault, so
load-time errors and the API's 422 place it without reading its text."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import FleetConfig, parse_fleet_config
from headend.config.meters import RegistryError, check_meter, check_meters, check_quantities

FLEET: dict[str, Any] = {
    "channels": [
        {"name": "bus-1", "url": "tcp://127.0.0.1:9"},
        {"name": "modbus-1", "url": "tcp://127.0.0.1:502", "protocol": "modbus"},
    ],
    "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
    "meters": [
        {"id": "m1", "address": "000000000001", "channel": "bus-1", "plan": "flat"},
        {
            "id": "pile-1",
            "channel": "modbus-1",
            "plan": "flat",
            "unit_id": 3,
            "register_map": "chint_dtsu666",
        },
    ],
}


@pytest.fixture
def config() -> FleetConfig:
    return parse_fleet_config(FLEET, "fleet.toml")


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"channel": "bus-9"}, "channel", "channel: unknown channel 'bus-9'"),
        ({"address": None}, "address", "address: a DL/T 645 meter needs its address"),
        ({"protocol": "modbus"}, "unit_id", "unit_id: a Modbus meter needs one"),
        ({"protocol": "dlt698"}, "protocol", "protocol: unknown protocol 'dlt698' (known: "),
        ({"channel": "modbus-1"}, "protocol", "protocol dlt645-2007 cannot share channel"),
        ({"id": "m2"}, "address", "address: 000000000001 is already used by meter m1"),
    ],
)
def test_a_rejected_meter_names_the_field_at_fault(
    config: FleetConfig, change: dict[str, Any], key: str, problem: str
) -> None:
    meter = dataclasses.replace(config.meters["m1"], **change)
    with pytest.raises(RegistryError) as info:
        check_meter(config, meter, config.meters.values())
    assert info.value.key == key
    assert info.value.where == f"meter {meter.id}"
    assert info.value.problem.startswith(problem)
    assert str(info.value) == f"{info.value.where}: {info.value.problem}"


def test_a_plan_quantity_the_meter_cannot_read_is_the_plans_fault(config: FleetConfig) -> None:
    plan = config.plans["flat"]
    reads = (dataclasses.replace(plan.reads[0], quantities=("voltage_z",)),)
    bad = dataclasses.replace(config, plans={"flat": dataclasses.replace(plan, reads=reads)})
    with pytest.raises(RegistryError) as info:
        check_meter(bad, bad.meters["pile-1"])
    assert info.value.key == "plan"
    assert info.value.problem == "plan flat: map chint_dtsu666 has no 'voltage_z'"


def test_quantities_of_a_request_keep_the_callers_where(config: FleetConfig) -> None:
    with pytest.raises(RegistryError) as info:
        check_quantities(config.meters["pile-1"], ["voltage_z"], "on-demand read of pile-1")
    assert str(info.value) == "on-demand read of pile-1: map chint_dtsu666 has no 'voltage_z'"
    assert info.value.key == "quantities"


def test_load_time_errors_carry_the_problem_not_a_reparsed_message(config: FleetConfig) -> None:
    meter = dataclasses.replace(config.meters["pile-1"], register_map="nosuch")
    bad = dataclasses.replace(config, meters={**config.meters, "pile-1": meter})
    with pytest.raises(ConfigError) as info:
        check_meters(bad)
    assert (info.value.key, info.value.meter) == ("meters[1]", "pile-1")
    assert info.value.problem.startswith("plan flat: register_map: unknown map 'nosuch' (known: ")
