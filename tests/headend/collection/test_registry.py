"""Registry errors say what code needs as fields: where (the meter), the key at fault, the problem.

The message text is for people and stays as it was; the API's 422 ``loc`` and the fleet file's
``meters[i] (meter m1)`` are built from the fields, never cut out of the text.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from headend.collection.registry import MeterRegistry
from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.config.meters import RegistryError, check_meters
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


# -- the address index: "address free on that bus" without scanning the fleet -------------------


def two_buses() -> MeterRegistry:
    data = fleet()
    data["channels"].append({"name": "bus-2", "url": "memory://bus-2"})
    return MeterRegistry(parse_fleet_config(data, "fleet.toml"))


def refused_address(registry: MeterRegistry, meter: MeterConfig) -> str:
    with pytest.raises(RegistryError) as info:
        registry.add(meter)
    assert info.value.key == "address"
    return info.value.problem


def test_an_added_meter_holds_its_address_on_its_bus() -> None:
    fleet_registry = two_buses()
    fleet_registry.add(new_meter())
    problem = refused_address(fleet_registry, new_meter(id="m3"))
    assert problem == "address: 000000000002 is already used by meter m2 on channel bus-1"
    assert "m3" not in fleet_registry


def test_the_same_address_on_another_bus_is_allowed() -> None:
    fleet_registry = two_buses()
    fleet_registry.add(new_meter(id="m3", channel="bus-2", address="000000000001"))
    assert fleet_registry.get("m3").channel == "bus-2"
    problem = refused_address(
        fleet_registry, new_meter(id="m4", channel="bus-2", address="000000000001")
    )
    assert problem == "address: 000000000001 is already used by meter m3 on channel bus-2"


def test_a_removed_meter_frees_its_address() -> None:
    fleet_registry = two_buses()
    fleet_registry.remove("000000000001")
    fleet_registry.add(new_meter(address="000000000001"))
    assert fleet_registry.get("m2").address == "000000000001"


def test_a_meter_changed_in_place_frees_its_old_address_and_keeps_its_own() -> None:
    fleet_registry = two_buses()
    fleet_registry.add(new_meter())
    fleet_registry.add(new_meter())  # the same meter again: its own address is not "used"
    fleet_registry.add(new_meter(address="000000000003"))
    fleet_registry.add(new_meter(id="m3"))  # 000000000002 is free again
    problem = refused_address(fleet_registry, new_meter(id="m4", address="000000000003"))
    assert problem.endswith("used by meter m2 on channel bus-1")


def test_a_meter_moved_to_another_bus_frees_its_address_on_the_first() -> None:
    fleet_registry = two_buses()
    fleet_registry.add(new_meter())
    fleet_registry.add(new_meter(channel="bus-2"))
    fleet_registry.add(new_meter(id="m3"))
    problem = refused_address(fleet_registry, new_meter(id="m4", channel="bus-2"))
    assert problem.endswith("used by meter m2 on channel bus-2")


def test_a_replacement_may_take_the_address_of_the_meter_it_replaces() -> None:
    fleet_registry = two_buses()
    fleet_registry.add(new_meter())
    old = fleet_registry.replace("m2", new_meter(id="m3"))
    assert old.id == "m2"
    assert "m2" not in fleet_registry
    problem = refused_address(fleet_registry, new_meter(id="m4"))
    assert problem.endswith("used by meter m3 on channel bus-1")
    with pytest.raises(RegistryError) as info:  # but not the address of a third meter
        fleet_registry.replace("m3", new_meter(id="m5", address="000000000001"))
    assert info.value.problem.endswith("used by meter 000000000001 on channel bus-1")
    assert "m3" in fleet_registry


def test_a_refused_meter_leaves_the_index_as_it_was() -> None:
    fleet_registry = two_buses()
    refused_address(fleet_registry, new_meter(address="000000000001"))
    fleet_registry.add(new_meter())  # m2 was never added: 000000000002 is free
    assert len(fleet_registry) == 2


def test_modbus_unit_ids_are_addresses_on_their_bus() -> None:
    fleet_registry = two_buses()
    pile = new_meter(
        id="pile-1",
        channel="modbus-1",
        protocol="modbus",
        address=None,
        unit_id=3,
        register_map="chint_dtsu666",
    )
    fleet_registry.add(pile)
    problem = refused_address(fleet_registry, dataclasses.replace(pile, id="pile-2"))
    assert problem == "address: 3 is already used by meter pile-1 on channel modbus-1"
    fleet_registry.add(dataclasses.replace(pile, id="pile-2", unit_id=4))
