"""The "one folder plus one registry line" promise: a protocol the head-end has never heard of,
written here as a tiny driver and registered with one line, is accepted by fleet files, meter
checks and run-time fleet changes, and its read action runs on a bus worker, without touching
any other module."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headend.bus.lanes import Lane
from headend.bus.worker import BusWorker
from headend.collection.registry import MeterRegistry
from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, load_fleet_config
from headend.config.meters import RegistryError
from headend.drivers.base import Capability, Driver, MeterProblem, ReadAction
from headend.drivers.quantities import unit_and_kind
from headend.drivers.registry import DRIVERS, known_protocols
from headend.drivers.settings import ChannelSettings, MeterSettings
from storage.records import Reading, ReadingKind
from transports.dial_in_listener import DialInListener
from transports.memory import MemoryNetwork

SLOT = datetime(2026, 7, 1, 0, 15, tzinfo=UTC)


class FakeLink:
    """A connection that answers every read with 230 V (the fake protocol's whole wire)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_open = False

    def describe(self) -> str:
        return f"fake {self.name}"

    async def open(self) -> None:
        self.is_open = True

    async def aclose(self) -> None:
        self.is_open = False


class FakeDriver(Driver[FakeLink]):
    """A protocol that reads one quantity of meters addressed by a 4-digit address."""

    protocol = "fake-1"
    family = "fake"
    transport_protocol = "modbus-rtu"
    meter_keys = ("address",)
    capabilities = frozenset({Capability.BLOCK_READS})

    def meter_problem(self, meter: MeterSettings) -> MeterProblem | None:
        if meter.address is None:
            return MeterProblem("address", "address: a fake meter needs its address")
        return None

    def address_problem(self, address: str | None) -> str | None:
        if address is None or len(address) != 4:
            return f"expected a 4-digit fake address, got {address!r}"
        return None

    def quantity_problem(
        self, meter: MeterSettings, quantities: Sequence[str]
    ) -> MeterProblem | None:
        unknown = [q for q in quantities if q != "voltage_a"]
        return MeterProblem("quantities", f"fake has no {unknown[0]!r}") if unknown else None

    def unit_and_kind(self, meter: MeterSettings, quantity: str) -> tuple[str, ReadingKind] | None:
        return ("V", ReadingKind.INSTANT) if quantity == "voltage_a" else None

    def connection(
        self,
        channel: ChannelSettings,
        memory: MemoryNetwork | None,
        dial_in: DialInListener | None = None,
    ) -> FakeLink:
        return FakeLink(channel.name)

    def read_action(
        self,
        channel: ChannelSettings,
        meter: MeterSettings,
        quantities: Sequence[str],
        slot: datetime,
    ) -> ReadAction[FakeLink]:
        async def action(link: FakeLink) -> list[Reading]:
            assert link.is_open
            return [Reading(meter.id, q, 230.0, "V", slot, tags=meter.tags()) for q in quantities]

        return action


FLEET = """
[[channels]]
name = "fake-bus"
url = "tcp://127.0.0.1:9"
protocol = "fake-1"

[plans.flat]
[[plans.flat.reads]]
quantities = ["voltage_a"]
interval = "1m"

[[meters]]
id = "flat-1"
address = "0001"
channel = "fake-bus"
plan = "flat"
"""


@pytest.fixture
def fake_registered(monkeypatch: pytest.MonkeyPatch) -> FakeDriver:
    driver = FakeDriver()
    monkeypatch.setitem(DRIVERS, "fake-1", driver)  # the one registry line
    return driver


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_fleet_of_the_new_protocol_loads(tmp_path: Path, fake_registered: FakeDriver) -> None:
    config = load_fleet_config(write(tmp_path, FLEET))
    assert config.channels["fake-bus"].protocol == "fake-1"
    meter = config.meters["flat-1"]
    assert (meter.protocol, meter.address, meter.unit_id) == ("fake-1", "0001", None)
    assert "fake-1" in known_protocols()
    assert unit_and_kind(meter, "voltage_a") == ("V", ReadingKind.INSTANT)


def test_without_its_registry_line_the_protocol_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_fleet_config(write(tmp_path, FLEET))
    assert info.value.key == "channels[0].protocol"
    assert "got 'fake-1'" in info.value.problem


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('address = "0001"', 'address = "1"', "meters[0].address", "4-digit fake address"),
        ('["voltage_a"]', '["voltage_a", "frequency"]', "meters[0]", "fake has no 'frequency'"),
    ],
    ids=["address", "quantity"],
)
def test_the_new_drivers_checks_name_file_key_and_meter(
    tmp_path: Path, fake_registered: FakeDriver, old: str, new: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_fleet_config(write(tmp_path, FLEET.replace(old, new)))
    assert info.value.key == key
    assert info.value.meter == "flat-1"
    assert problem in info.value.problem


def test_the_new_protocol_cannot_share_a_bus_with_another_family(
    tmp_path: Path, fake_registered: FakeDriver
) -> None:
    text = FLEET + (
        '\n[[meters]]\naddress = "000000000002"\nchannel = "fake-bus"\nplan = "flat"\n'
        'protocol = "dlt645-2007"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_fleet_config(write(tmp_path, text))
    assert info.value.key == "meters[1]"
    assert info.value.problem == "protocol dlt645-2007 cannot share channel fake-bus (fake-1)"


def test_fleet_changes_of_the_new_protocol_are_checked_by_its_driver(
    tmp_path: Path, fake_registered: FakeDriver
) -> None:
    config = load_fleet_config(write(tmp_path, FLEET))
    registry = MeterRegistry(config)
    second = MeterConfig(id="flat-2", channel="fake-bus", protocol="fake-1", plan="flat")
    with pytest.raises(RegistryError) as info:
        registry.add(second)
    assert (info.value.where, info.value.key) == ("meter flat-2", "address")
    assert str(info.value) == "meter flat-2: address: a fake meter needs its address"
    registry.add(dataclasses.replace(second, address="0002"))
    assert "flat-2" in registry


async def test_the_new_drivers_read_runs_on_a_bus_worker(
    tmp_path: Path, fake_registered: FakeDriver
) -> None:
    config = load_fleet_config(write(tmp_path, FLEET))
    channel, meter = config.channels["fake-bus"], config.meters["flat-1"]
    worker = BusWorker(channel.name, fake_registered.connection(channel, None))
    action = fake_registered.read_action(channel, meter, ["voltage_a"], SLOT)
    async with asyncio.TaskGroup() as group:
        group.create_task(worker.run())
        readings = await worker.call(Lane.TELEMETRY, "read flat-1", action)
        worker.close()
    assert [(r.meter, r.quantity, r.value, r.timestamp) for r in readings] == [
        ("flat-1", "voltage_a", 230.0, SLOT)
    ]
