"""The engine reaching a concentrator's meters by AFN 10 forwarding, over real TCP.

A ``SimulatedConcentrator`` with simulated DL/T 645 meters on its port dials in to the engine's
master station; ``engine.forwarded`` reads them on demand (stored before the caller has the
readings) and trips a relay (audited, on disk, before the order reaches the meter).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.clock import WarpedClock
from headend.commands.admin import NotConfirmed
from headend.config.fleet import parse_fleet_config
from headend.drivers.dlt645.admin import AdminOrder
from headend.drivers.dlt645.control import RelayState
from headend.engine import Engine, EngineOptions
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline
from protocols.dlt645 import FrameDecoder, RelayAction
from protocols.dlt645.control import Function
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from simulators.concentrator.forwarding import MeterPort
from simulators.dlt645 import SimulatedMeter, SimulatedMeterConfig, StaticSource
from storage.embedded import SqliteStore
from storage.records import ReadingKind
from tests.support.concentrator_fleet import (
    KEEPS,
    NOW,
    POINTS,
    TODAY,
    TZ,
    concentrator_fleet,
    frozen_total,
)

VALUES = {"energy_active_import_total": 4321.09, "voltage_a": 231.4, "current_a": 3.217}
DRIFT = 300.0
"""Seconds m1's clock runs ahead in the clock check test."""
SLACK = 5.0
"""Seconds of forwarding round trips a clock reading may be off by on a loaded machine."""


class AuditWatchingPort:
    """The concentrator's port, noting what the audit file held when an order arrived (the
    first frame of each function that changes a meter)."""

    WATCHED = (Function.RELAY_CONTROL, Function.CLEAR_METER, Function.WRITE)

    def __init__(self, port: MeterPort, audit: Path) -> None:
        self.port = port
        self.audit = audit
        self.audit_at: dict[Function, list[dict[str, Any]]] = {}
        self.functions: list[Function] = []

    @property
    def audit_at_relay(self) -> list[dict[str, Any]] | None:
        return self.audit_at.get(Function.RELAY_CONTROL)

    def __call__(self, data: bytes) -> bytes | None:
        decoder = FrameDecoder()
        decoder.feed(data)
        frame = decoder.next_frame()
        if frame is not None:
            function = Function(frame.control.function)
            self.functions.append(function)
            if function in self.WATCHED and function not in self.audit_at:
                lines = self.audit.read_text().splitlines() if self.audit.exists() else []
                self.audit_at[function] = [json.loads(line) for line in lines]
        return self.port(data)


def _fleet() -> dict[str, Any]:
    fleet = concentrator_fleet()
    terminal = fleet["terminals"][0]  # type: ignore[index]
    terminal["meters"][2]["control"] = "plaintext"  # m3: relay orders with its password
    return fleet


@dataclass
class Rig:
    engine: Engine
    store: SqliteStore
    meters: list[SimulatedMeter]
    port: AuditWatchingPort
    concentrator: SimulatedConcentrator


async def _rig(tmp_path: Path) -> Rig:
    """The engine and, not yet dialled in, its concentrator with three DL/T 645 meters."""
    audit = tmp_path / "audit.jsonl"
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(_fleet(), "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=audit, writer_interval=0.05, maintenance=False),
    )
    frozen = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS],
        frozen_total,
        lambda: TODAY,
        keeps_days=KEEPS,
    )
    meters = [
        SimulatedMeter(SimulatedMeterConfig(f"{p:012d}", StaticSource(VALUES), meter_id=f"m{p}"))
        for p in POINTS
    ]
    port = AuditWatchingPort(MeterPort(meters, frozen, engine.clock.now), audit)
    concentrator = SimulatedConcentrator(
        Address("4403", 12), frozen, lambda: NOW.replace(tzinfo=None), forward_to=port
    )
    return Rig(engine, store, meters, port, concentrator)


async def test_on_demand_reads_and_a_relay_order_go_through_the_concentrator(
    tmp_path: Path,
) -> None:
    rig = await _rig(tmp_path)
    engine, store, meters, port, concentrator = (
        rig.engine,
        rig.store,
        rig.meters,
        rig.port,
        rig.concentrator,
    )
    audit = tmp_path / "audit.jsonl"
    server, forwarded = engine.terminal_server, engine.forwarded
    assert server is not None
    assert forwarded is not None
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        async with asyncio.timeout(30):
            await server.listening.wait()
            with pytest.raises(TerminalOffline) as offline:  # not dialled in yet: at once
                await forwarded.read_now("m1", ["voltage_a"])
            dialler = group.create_task(concentrator.run("127.0.0.1", server.port))
            await server.wait_online("4403-00012")
            readings = await forwarded.read_now("m1", list(VALUES))
            stored = await store.stored_points(
                ReadingKind.INSTANT,
                ["m1"],
                ["voltage_a"],
                NOW - timedelta(minutes=1),
                NOW + timedelta(minutes=1),
            )
            result = await forwarded.relay("m3", RelayAction.TRIP, "alice", "unpaid")
            with pytest.raises(ReadFailed, match="security module"):  # m2 takes secured control
                await forwarded.relay("m2", RelayAction.TRIP, "alice")
        engine.stop()
        await runner
        dialler.cancel()
    await store.aclose()

    assert "4403-00012" in str(offline.value)
    assert "000000000001" in str(offline.value)
    assert {r.quantity: r.value for r in readings} == VALUES
    assert [(p.meter, p.value) for p in stored] == [("m1", VALUES["voltage_a"])]
    assert readings[0].tags["terminal"] == "jzq-T1"

    assert (result.state, result.verified) == (RelayState.OPEN, True)
    assert [m.relay_open for m in meters] == [False, False, True]
    assert port.audit_at_relay is not None
    (intent,) = port.audit_at_relay  # on disk before the order went out
    assert (intent["meter"], intent["command"], intent["user"]) == ("m3", "relay trip", "alice")
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["meter"] for e in entries] == ["m3", "m3"]  # m2 refused before any audit
    assert entries[1]["outcome"] == "ok"


async def test_admin_orders_and_clock_checks_go_through_the_concentrator(tmp_path: Path) -> None:
    rig = await _rig(tmp_path)
    engine, meters, port = rig.engine, rig.meters, rig.port
    audit = tmp_path / "audit.jsonl"
    server, forwarded = engine.terminal_server, engine.forwarded
    assert server is not None
    assert forwarded is not None
    m1, _, m3 = meters
    m1.set_clock((NOW + timedelta(seconds=DRIFT)).replace(tzinfo=None), engine.clock.now())
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        async with asyncio.timeout(30):
            await server.listening.wait()
            with pytest.raises(TerminalOffline) as offline:  # not dialled in: nothing audited
                await forwarded.admin_order("m3", AdminOrder.METER_CLEAR, "root", confirm="m3")
            with pytest.raises(TerminalOffline):
                await forwarded.check_clock("m1", "alice")
            offline_audit = audit.exists() and audit.read_text()
            dialler = group.create_task(rig.concentrator.run("127.0.0.1", server.port))
            await server.wait_online("4403-00012")
            with pytest.raises(NotConfirmed):
                await forwarded.admin_order("m3", AdminOrder.METER_CLEAR, "root", confirm="m1")
            with pytest.raises(ReadFailed, match="password change"):
                await forwarded.admin_order(
                    "m3", AdminOrder.CHANGE_PASSWORD, "root", confirm="m3", new_password="02123456"
                )
            with pytest.raises(ReadFailed, match="security module"):  # m2 takes secured control
                await forwarded.admin_order("m2", AdminOrder.METER_CLEAR, "root", confirm="m2")
            unconfirmed = port.functions.copy()
            answer = await forwarded.admin_order(
                "m3", AdminOrder.METER_CLEAR, "root", confirm="m3", reason="new tenant"
            )
            cleared = await forwarded.read_now("m3", ["energy_active_import_total"])
            drift = await forwarded.check_clock("m1", "alice")
            shown = m1.clock(engine.clock.now())
            steady = await forwarded.check_clock("m3", "alice")
        engine.stop()
        await runner
        dialler.cancel()
    await rig.store.aclose()

    assert "4403-00012" in str(offline.value)
    assert "m3" in str(offline.value)
    assert not offline_audit
    assert unconfirmed == []  # refusals put nothing on the meter's line
    assert answer
    assert m3.energy_cleared_at is not None
    assert [r.value for r in cleared] == [0.0]  # the register reads zero through the terminal
    assert DRIFT - SLACK <= drift <= DRIFT + SLACK
    true_local = engine.clock.now().astimezone(TZ).replace(tzinfo=None)
    assert abs((shown - true_local).total_seconds()) <= SLACK  # set to the site's time
    assert abs(steady) <= SLACK

    (clear_intent,) = port.audit_at[Function.CLEAR_METER]  # on disk before the order went out
    assert (clear_intent["meter"], clear_intent["command"]) == ("m3", "meter clear")
    assert clear_intent["data"] == {
        "control": "plaintext",
        "reason": "new tenant",
        "terminal": "jzq-T1",
        "pn": 3,
    }
    set_intent = port.audit_at[Function.WRITE][-1]
    assert (set_intent["meter"], set_intent["command"]) == ("m1", "clock set")
    assert set_intent["data"] == {"terminal": "jzq-T1", "pn": 1}
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["meter"], e["command"], e["outcome"]) for e in entries] == [
        ("m3", "meter clear", "intent"),
        ("m3", "meter clear", "ok"),
        ("m1", "clock set", "intent"),
        ("m1", "clock set", "ok"),
    ]
