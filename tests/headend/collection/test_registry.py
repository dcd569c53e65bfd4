"""Registry errors say what code needs as fields: where (the meter), the key at fault, the problem.

The message text is for people and stays as it was; the API's 422 ``loc`` and the fleet file's
``meters[i] (meter m1)`` are built from the fields, never cut out of the text.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from headend.collection.registry import MeterRegistry, RegistryError
from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.config.meters import check_meters
from headend.errors import UnknownMeter


def fleet(**meter: Any) -> dict[str, Any]:
    return {
        "channels": [
            {"name": "bus-1", "url": "memory://bus-1"},
            {"name": "modbus-1", "url": "tcp://127.0.0.1:502", "protocol": "modbus"},
        ],
        "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
        "meters": [{"address": "000000000001", "channel": "bus-1", "plan": "flat", **meter}],
    }


def registry() -> MeterRegistry:
    return MeterRegistry(parse_fleet_config(fleet(), "fleet.toml"))


def new_meter(**change: Any) -> MeterConfig:
    meter = MeterConfig(
        id="m2", channel="bus-1", protocol="dlt645-2007", plan="flat", address="000000000002"
    )
    return dataclasses.replace(meter, **change)


@pytest.mark.parametrize(
    ("change", "key", "detail"),
    [
        ({"channel": "bus-9"}, "channel", "channel: unknown channel 'bus-9'"),
        ({"plan": "nope"}, "plan", "plan: unknown plan 'nope'"),
        ({"address": "000000000001"}, "address", "address: 000000000001 is already used by"),
        ({"address": None}, "address", "address: a DL/T 645 meter needs its address"),
        ({"building": "B1\n2"}, "building", "building: "),
        (
            {"protocol": "modbus", "address": None, "unit_id": 3, "register_map": "chint_dtsu666"},
            "protocol",
            "protocol modbus cannot share channel bus-1",
        ),
        (
            {"channel": "modbus-1", "protocol": "modbus", "address": None, "unit_id": 3,
             "register_map": "no_such_map"},
            "plan",
            "plan flat: register_map: unknown map 'no_such_map'",
        ),
    ],
)  # fmt: skip
def test_a_refused_change_names_meter_and_key_as_fields(
    change: dict[str, Any], key: str, detail: str
) -> None:
    with pytest.raises(RegistryError) as info:
        registry().add(new_meter(**change))
    error = info.value
    assert (error.where, error.key) == ("meter m2", key)
    assert error.problem.startswith(detail)
    assert str(error) == f"meter m2: {error.problem}"


def test_a_quantity_check_for_a_request_starts_with_the_request() -> None:
    meter = registry().get("000000000001")
    with pytest.raises(RegistryError) as info:
        registry().validate_quantities(meter, ["no_such_quantity"], where="on-demand read of m1")
    error = info.value
    assert (error.where, error.key) == ("on-demand read of m1", "quantities")
    assert str(error) == f"on-demand read of m1: {error.problem}"
    assert "no_such_quantity" in error.problem


def test_the_fleet_file_names_the_table_and_the_meter_with_the_registry_detail() -> None:
    config = parse_fleet_config(fleet(id="m1", protocol="dlt645-1997"), "fleet.toml")
    config = dataclasses.replace(
        config,
        plans={
            "flat": dataclasses.replace(
                config.plans["flat"],
                reads=(dataclasses.replace(config.plans["flat"].reads[0], quantities=("nope",)),),
            )
        },
    )
    with pytest.raises(RegistryError) as refused:
        MeterRegistry(dataclasses.replace(config, meters={})).validate(config.meters["m1"])
    with pytest.raises(ConfigError) as info:
        check_meters(config)
    error = info.value
    assert (error.key, error.meter) == ("meters[0]", "m1")
    assert error.problem == refused.value.problem
    assert str(error) == f"fleet.toml: meters[0] (meter m1): {refused.value.problem}"


def test_an_unknown_meter_names_its_id_as_a_field_and_once_in_the_text() -> None:
    with pytest.raises(UnknownMeter) as info:
        registry().get("m9")
    assert info.value.meter == "m9"
    assert str(info.value) == "unknown meter 'm9'"
    assert isinstance(info.value, KeyError)
