"""The DL/T 645 driver: what a meter needs, a typed address instead of an assert, and the
refusal that tells backfill a record is not held."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from headend.bus.link import BusLink
from headend.config.fleet import ChannelConfig, MeterConfig
from headend.drivers.registry import driver_for
from headend.errors import ReadFailed
from storage.records import FailureReason, ReadingKind

CHANNEL = ChannelConfig(name="bus-1", url="tcp://127.0.0.1:9", protocol="dlt645-2007")
METER = MeterConfig(id="m1", channel="bus-1", protocol="dlt645-2007", plan="flat")
SLOT = datetime(2026, 7, 1, tzinfo=UTC)


def test_a_meter_without_its_address_is_refused_naming_the_key() -> None:
    problem = driver_for("dlt645-2007").meter_problem(METER)
    assert problem is not None
    assert (problem.key, problem.message) == (
        "address",
        "address: a DL/T 645 meter needs its address",
    )
    with_address = dataclasses.replace(METER, address="000000000001")
    assert driver_for("dlt645-2007").meter_problem(with_address) is None


@pytest.mark.parametrize(("address", "accepted"), [("000000000001", True), ("12345", False)])
def test_fleet_file_addresses_are_the_12_nameplate_digits(address: str, accepted: bool) -> None:
    assert (driver_for("dlt645-1997").address_problem(address) is None) is accepted


async def test_a_read_of_an_unvalidated_meter_fails_as_a_reading_not_an_assert() -> None:
    driver = driver_for("dlt645-2007")
    link = driver.connection(CHANNEL, None)
    assert isinstance(link, BusLink)
    action = driver.read_action(CHANNEL, METER, ["voltage_a"], SLOT)
    with pytest.raises(ReadFailed) as info:
        await action(link)  # never opened: the address is refused before the bus is used
    assert info.value.reason is FailureReason.UNSUPPORTED
    assert info.value.detail == "meter m1: a DL/T 645 meter needs its address"


@pytest.mark.parametrize(("word", "absent"), [(0x02, True), (0x03, True), (0x04, False)])
def test_no_requested_data_means_the_record_is_not_held(word: int, absent: bool) -> None:
    error = ReadFailed(FailureReason.ERROR_RESPONSE, "refused", error_word=word)
    assert driver_for("dlt645-2007").holds_no_record(error) is absent
    assert not driver_for("modbus").holds_no_record(error)


def test_units_and_kinds_come_from_the_editions_catalogue() -> None:
    for protocol in ("dlt645-2007", "dlt645-1997"):
        meter = MeterConfig(id="m1", channel="bus-1", protocol=protocol, plan="flat")
        assert driver_for(protocol).unit_and_kind(meter, "voltage_a") == ("V", ReadingKind.INSTANT)
        assert driver_for(protocol).unit_and_kind(meter, "no_such_quantity") is None
