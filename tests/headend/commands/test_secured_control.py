"""Secured control and the admin orders through the real engine and simulated meters with an
ESAM stand-in: relay orders sealed by the software security module after an identity
authentication, plaintext refused by a secured meter with a clear error, and meter clear,
demand clear and event clear confirmed, audited and seen in the meter's registers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headend.clock import WarpedClock
from headend.commands.admin import NotConfirmed
from headend.config.fleet import parse_fleet_config
from headend.drivers.dlt645.admin import AdminOrder
from headend.drivers.dlt645.control import RelayState
from headend.drivers.dlt645.security_module import (
    Authentication,
    SecurityModule,
    Session,
    SoftwareSecurityModule,
)
from headend.engine import Engine, EngineOptions
from headend.errors import ReadFailed
from protocols.dlt645 import Frame, Function, RelayAction
from protocols.dlt645.security import SECURITY_FUNCTION
from simulators.dlt645 import (
    Burst,
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from simulators.dlt645.esam import EsamConfig
from storage.embedded import SqliteStore
from storage.records import FailureReason
from transports.memory import MemoryNetwork
from transports.settings import Parity, SerialSettings

START = datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)
MASTER_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")
ADDRESSES = {"sgcc": "000000000001", "plain": "000000000002", "misconfigured": "000000000003"}
ENERGY = 1234.5
SECURED_METERS = {"sgcc", "misconfigured"}
"""Simulated meters with an ESAM; ``misconfigured`` is set to plaintext in the fleet file."""


def fleet() -> dict[str, object]:
    control = {"sgcc": "secured", "plain": "plaintext", "misconfigured": "plaintext"}
    return {
        "site": {"name": "secured-test", "timezone": "Asia/Shanghai"},
        "channels": [
            {
                "name": "bus-1",
                "url": "memory://bus-1",
                "timeout": "200ms",
                "inter_frame_gap": "1ms",
                "retries": 0,
            }
        ],
        "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "15m"}]}},
        "meters": [
            {
                "id": m,
                "address": address,
                "channel": "bus-1",
                "plan": "flat",
                "control": control[m],
                "password": "02000000",
            }
            for m, address in ADDRESSES.items()
        ],
    }


class CountingBus(MeterBus):
    """The simulated bus, noting the function code of every frame the head-end sends."""

    def __init__(self, meters: list[SimulatedMeter]) -> None:
        settings = SerialSettings("sim", baud=115200, parity=Parity.NONE)
        super().__init__(meters, settings, clock=lambda: START, name="bus-1")
        self.functions: list[int] = []

    def on_frame(self, frame: Frame, frame_end: float) -> list[Burst]:
        self.functions.append(frame.control.function)
        return super().on_frame(frame, frame_end)


@dataclass
class Rig:
    engine: Engine
    bus: CountingBus
    meters: dict[str, SimulatedMeter]


async def rig_with(
    tmp_path: Path, key: bytes, module: SecurityModule | None = None
) -> AsyncIterator[Rig]:
    meters = {
        m: SimulatedMeter(
            SimulatedMeterConfig(
                address,
                StaticSource({"voltage_a": 230.0, "energy_active_import_total": ENERGY}),
                meter_id=m,
                reply_delay=0.002,
                password=bytes.fromhex("02000000"),
                esam=EsamConfig(MASTER_KEY) if m in SECURED_METERS else None,
            )
        )
        for m, address in ADDRESSES.items()
    }
    bus = CountingBus(list(meters.values()))
    network = MemoryNetwork()
    device_end = network.listen("bus-1")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    options = EngineOptions(
        jitter=0,
        maintenance=False,
        audit_path=tmp_path / "audit.jsonl",
        security=module or SoftwareSecurityModule(key, key_version=1),
    )
    engine = Engine(
        parse_fleet_config(fleet(), "secured-test"),
        store,
        clock=WarpedClock(START, speed=1),
        memory=network,
        options=options,
    )
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        yield Rig(engine, bus, meters)
        runner.cancel()
        server.cancel()
    await store.aclose()


@pytest.fixture
async def secured_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in rig_with(tmp_path, MASTER_KEY):
        yield made


@pytest.fixture
async def wrong_key_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in rig_with(tmp_path, OTHER_KEY):
        yield made


async def test_a_secured_trip_authenticates_then_seals_and_the_audit_keeps_the_reason(
    secured_rig: Rig,
) -> None:
    result = await secured_rig.engine.operations.relay("sgcc", RelayAction.TRIP, "anna", "unpaid")
    assert (result.state, result.verified) == (RelayState.OPEN, True)
    assert secured_rig.meters["sgcc"].relay_open
    assert secured_rig.meters["sgcc"].esam is not None
    assert secured_rig.meters["sgcc"].esam.authentications == 1
    assert secured_rig.bus.functions[:2] == [SECURITY_FUNCTION, Function.RELAY_CONTROL]
    outcome, intent = secured_rig.engine.audit.recent("sgcc")
    assert (intent.outcome, intent.user, intent.command) == ("intent", "anna", "relay trip")
    assert "reason: unpaid" in intent.detail
    assert intent.data == {"control": "secured", "reason": "unpaid", "key_version": 1}
    assert (outcome.outcome, outcome.ref, outcome.data["reason"]) == ("ok", intent.id, "unpaid")

    closed = await secured_rig.engine.operations.relay(
        "sgcc", RelayAction.CLOSE_DIRECT, "anna", "paid"
    )
    assert closed.state is RelayState.CLOSED
    assert not secured_rig.meters["sgcc"].relay_open


async def test_plaintext_meters_still_take_plaintext_orders(secured_rig: Rig) -> None:
    result = await secured_rig.engine.operations.relay("plain", RelayAction.TRIP, "anna")
    assert result.verified
    assert secured_rig.meters["plain"].relay_open
    assert SECURITY_FUNCTION not in secured_rig.bus.functions


async def test_a_secured_meter_refuses_plaintext_and_the_error_says_why(secured_rig: Rig) -> None:
    with pytest.raises(ReadFailed) as caught:
        await secured_rig.engine.operations.relay(
            "misconfigured", RelayAction.TRIP, "anna", "unpaid"
        )
    assert caught.value.reason is FailureReason.ERROR_RESPONSE
    assert "refuses plaintext control" in caught.value.detail
    assert 'control = "secured" for meter misconfigured' in caught.value.detail
    assert not secured_rig.meters["misconfigured"].relay_open
    outcome, _ = secured_rig.engine.audit.recent("misconfigured")
    assert outcome.outcome == "refused"


async def test_a_module_with_another_key_is_refused_by_the_esam(wrong_key_rig: Rig) -> None:
    secured_rig = wrong_key_rig
    with pytest.raises(ReadFailed) as caught:
        await secured_rig.engine.operations.relay("sgcc", RelayAction.TRIP, "anna", "unpaid")
    assert "ESAM refused the identity authentication" in caught.value.detail
    assert "AUTHENTICATION_FAILED" in caught.value.detail
    assert not secured_rig.meters["sgcc"].relay_open
    assert Function.RELAY_CONTROL not in secured_rig.bus.functions, "no order without a session"
    esam = secured_rig.meters["sgcc"].esam
    assert esam is not None
    assert esam.refusals == 1


class UnreachableModule:
    """A vendor module whose network link is down."""

    key_version = 3

    async def authenticate(self, dispersion: bytes) -> Authentication:
        raise ConnectionRefusedError("security module at 10.0.0.9:6000 refused the connection")

    async def seal(self, session: Session, data: bytes) -> bytes:
        raise AssertionError("never asked: no session")


async def test_a_security_module_that_cannot_be_reached_fails_the_order_with_why(
    tmp_path: Path,
) -> None:
    async for rig in rig_with(tmp_path, MASTER_KEY, UnreachableModule()):
        with pytest.raises(ReadFailed) as caught:
            await rig.engine.operations.relay("sgcc", RelayAction.TRIP, "anna", "unpaid")
        assert "security module could not authenticate" in caught.value.detail
        assert "10.0.0.9:6000" in caught.value.detail
        assert not rig.meters["sgcc"].relay_open
        assert rig.engine.audit.recent("sgcc", limit=1)[0].outcome != "ok"
        await rig.engine.operations.relay("plain", RelayAction.TRIP, "anna", "unpaid")
        assert rig.meters["plain"].relay_open, "the bus goes on with other work"


@pytest.mark.parametrize("confirm", [None, "", "plain"])
async def test_a_meter_clear_without_naming_the_meter_is_refused_before_anything(
    secured_rig: Rig, confirm: str | None
) -> None:
    with pytest.raises(NotConfirmed, match="confirm it by naming the meter"):
        await secured_rig.engine.admin.run("sgcc", AdminOrder.METER_CLEAR, "root", confirm=confirm)
    assert secured_rig.bus.functions == [] or Function.CLEAR_METER not in secured_rig.bus.functions
    assert secured_rig.engine.audit.recent("sgcc") == []
    assert secured_rig.meters["sgcc"].energy_cleared_at is None


async def test_a_confirmed_sealed_meter_clear_zeroes_the_energy_register(secured_rig: Rig) -> None:
    [before] = await secured_rig.engine.operations.read_now("sgcc", ["energy_active_import_total"])
    assert before.value == pytest.approx(ENERGY)
    answer = await secured_rig.engine.admin.run(
        "sgcc", AdminOrder.METER_CLEAR, "root", confirm="sgcc", reason="meter re-installed"
    )
    assert answer.startswith("meter clear done (sealed")
    assert Function.CLEAR_METER in secured_rig.bus.functions
    [after] = await secured_rig.engine.operations.read_now("sgcc", ["energy_active_import_total"])
    assert after.value == pytest.approx(0.0)
    outcome, intent = secured_rig.engine.audit.recent("sgcc")
    assert (intent.command, intent.outcome, outcome.outcome) == ("meter clear", "intent", "ok")
    assert intent.data["reason"] == "meter re-installed"


async def test_event_and_demand_clear_act_on_the_meter(secured_rig: Rig) -> None:
    await secured_rig.engine.admin.run("sgcc", AdminOrder.EVENT_CLEAR, "root", confirm="sgcc")
    assert secured_rig.meters["sgcc"].cleared_events == [0xFFFFFFFF]
    await secured_rig.engine.admin.run("plain", AdminOrder.DEMAND_CLEAR, "root", confirm="plain")
    assert secured_rig.meters["plain"].demand_cleared
    await secured_rig.engine.admin.run("plain", AdminOrder.EVENT_CLEAR, "root", confirm="plain")
    assert secured_rig.meters["plain"].cleared_events == [0xFFFFFFFF]


async def test_a_changed_password_is_kept_and_the_next_order_uses_it(secured_rig: Rig) -> None:
    """The meter takes the new password; the head-end keeps it (audited, in the fleet
    overlay), so the next order is not refused as unauthorised with the old one."""
    await secured_rig.engine.admin.run(
        "plain", AdminOrder.CHANGE_PASSWORD, "root", confirm="plain", new_password="02654321"
    )
    assert secured_rig.meters["plain"].password == bytes.fromhex("02214365")
    assert secured_rig.engine.registry.get("plain").password == "02654321"
    assert secured_rig.engine.audit.recent("plain", limit=1)[0].command == "meter update"
    await secured_rig.engine.admin.run("plain", AdminOrder.DEMAND_CLEAR, "root", confirm="plain")
    assert secured_rig.meters["plain"].demand_cleared
