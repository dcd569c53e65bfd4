"""The driver registry: one table of protocols, each driver keeping the ``Driver`` promise, and
the registry as the only place config, the API and collection learn the protocols from."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.drivers.base import Capability, Driver
from headend.drivers.quantities import unit_and_kind
from headend.drivers.registry import (
    DEFAULT_PROTOCOL,
    DRIVERS,
    UnknownProtocol,
    driver_for,
    known_protocols,
)
from headend.errors import ReadFailed
from protocols.dlt645 import RelayAction
from storage.records import FailureReason, ReadingKind
from transports import parse_transport_url

OPTIONAL_METHODS = {
    Capability.FROZEN: ("read_frozen",),
    Capability.CLOCK: ("read_clock", "set_clock"),
    Capability.TIME_BROADCAST: ("broadcast_time",),
    Capability.RELAY: ("control_relay",),
}
"""What a driver claiming a capability must implement (and must not, if it does not claim it:
the refusing defaults are what the engine relies on)."""

METER_FIELDS = {field.name for field in dataclasses.fields(MeterConfig)}

FLEET: dict[str, Any] = {
    "channels": [
        {"name": "bus-1", "url": "tcp://127.0.0.1:9"},
        {"name": "modbus-1", "url": "tcp://127.0.0.1:502", "protocol": "modbus"},
    ],
    "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
    "meters": [
        {"address": "000000000001", "channel": "bus-1", "plan": "flat"},
        {
            "id": "pile-1",
            "channel": "modbus-1",
            "plan": "flat",
            "unit_id": 3,
            "register_map": "chint_dtsu666",
        },
    ],
}


def test_unknown_protocol_names_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownProtocol) as info:
        driver_for("dlt698")
    assert str(info.value) == "unknown protocol 'dlt698' (known: dlt645-2007, dlt645-1997, modbus)"
    assert info.value.protocol == "dlt698"
    assert info.value.known == known_protocols()


def test_the_registry_holds_the_protocols_of_fleet_files() -> None:
    assert known_protocols() == ("dlt645-2007", "dlt645-1997", "modbus")
    assert DEFAULT_PROTOCOL in DRIVERS
    config = parse_fleet_config({**FLEET, "meters": []}, "fleet.toml")
    assert config.channels["bus-1"].protocol == DEFAULT_PROTOCOL


@pytest.mark.parametrize("name", list(DRIVERS))
def test_every_registered_driver_keeps_the_driver_promise(name: str) -> None:
    driver = DRIVERS[name]
    assert isinstance(driver, Driver)
    assert driver.protocol == name, "a driver is registered under its own protocol name"
    assert driver.capabilities <= set(Capability)
    assert driver.meter_keys, "a driver names what it addresses a meter by"
    assert set(driver.meter_keys) <= METER_FIELDS
    assert driver.family
    parse_transport_url("serial:///dev/ttyUSB0", protocol=driver.transport_protocol)
    for capability, methods in OPTIONAL_METHODS.items():
        for method in methods:
            implemented = getattr(type(driver), method) is not getattr(Driver, method)
            assert implemented is driver.supports(capability), (name, capability, method)


def test_protocols_of_one_family_share_a_connection_kind() -> None:
    """Meters of one family may share a channel (config/meters.py), so one connection must
    carry all of their frames."""
    by_family: dict[str, set[type]] = {}
    for driver in DRIVERS.values():
        by_family.setdefault(driver.family, set()).add(type(driver))
    assert all(len(kinds) == 1 for kinds in by_family.values()), by_family


def test_config_takes_its_protocols_from_the_registry() -> None:
    data = {**FLEET, "channels": [{**FLEET["channels"][0], "protocol": "dlt698"}]}
    with pytest.raises(ConfigError) as info:
        parse_fleet_config(data, "fleet.toml")
    assert info.value.key == "channels[0].protocol"
    assert info.value.problem == f"expected one of {', '.join(known_protocols())}, got 'dlt698'"


def test_a_meter_needs_what_its_driver_addresses_it_by() -> None:
    meters = [{**FLEET["meters"][0], "address": None}, FLEET["meters"][1]]
    del meters[0]["address"]
    with pytest.raises(ConfigError) as info:
        parse_fleet_config({**FLEET, "meters": meters}, "fleet.toml")
    assert info.value.key == "meters[0].address"
    assert "12-digit" in info.value.problem


def test_unit_and_kind_come_from_the_meters_driver() -> None:
    config = parse_fleet_config(FLEET, "fleet.toml")
    dlt645, modbus = config.meters["000000000001"], config.meters["pile-1"]
    assert unit_and_kind(dlt645, "voltage_a") == ("V", ReadingKind.INSTANT)
    assert unit_and_kind(modbus, "power_active_total") == ("kW", ReadingKind.INSTANT)
    assert unit_and_kind(modbus, "no_such_quantity") == ("", ReadingKind.INSTANT)


async def test_a_driver_without_a_capability_refuses_it_naming_meter_and_protocol() -> None:
    config = parse_fleet_config(FLEET, "fleet.toml")
    meter = config.meters["pile-1"]
    driver = driver_for(meter.protocol)
    with pytest.raises(ReadFailed) as info:
        await driver.control_relay(
            object(), meter, RelayAction.TRIP, datetime(2026, 1, 1, tzinfo=UTC), reply_timeout=1
        )
    assert info.value.reason is FailureReason.UNSUPPORTED
    assert info.value.detail == "meter pile-1: modbus has no relay control"
