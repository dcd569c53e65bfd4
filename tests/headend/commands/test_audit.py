"""The audit trail through the real engine and simulated meters: intent on disk before a relay
order leaves, outcomes linked to their intent, broadcast time sync and clock sets audited, and
history (with orphaned intents closed ``unknown``) kept across restarts."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headend.clock import WarpedClock
from headend.commands.audit import AuditEntry, AuditLog, tail_lines
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.drivers.dlt645.control import RelayState
from headend.engine import Engine, EngineOptions
from headend.errors import BusClosed, ReadFailed
from protocols.dlt645 import Frame, Function, RelayAction
from simulators.dlt645 import (
    Burst,
    FaultScript,
    MeterBus,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from storage.embedded import SqliteStore
from transports.memory import MemoryNetwork
from transports.settings import Parity, SerialSettings

START = datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)
ADDRESSES = {"m1": "000000000001", "m2": "000000000002", "m3": "000000000003"}
ENERGY = {"m1": 1234.5, "m2": 2222.25, "m3": 0.5}


def fleet(meters: tuple[str, ...] = ("m1", "m2")) -> dict[str, object]:
    return {
        "site": {"name": "audit-test", "timezone": "Asia/Shanghai"},
        "channels": [
            {
                "name": "bus-1",
                "url": "memory://bus-1",
                "timeout": "200ms",
                "inter_frame_gap": "1ms",
                "retries": 1,
                "retry_backoff": "5ms",
            }
        ],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "clock": {"drift_threshold": "30s"},
        "plans": {
            "flat": {
                "reads": [
                    {"quantities": ["voltage_a"], "interval": "15m"},
                    {"quantities": ["energy_active_import_total"], "interval": "15m"},
                ]
            }
        },
        "meters": [
            {
                "id": m,
                "address": ADDRESSES[m],
                "channel": "bus-1",
                "plan": "flat",
                "transformer": "T1",
                "control": "plaintext",  # the simulated meters have no ESAM
            }
            for m in meters
        ],
    }


class WatchedBus(MeterBus):
    """A simulated bus that notes what the audit file held when each relay order arrived,
    and can fall silent after one (a meter that trips and then stops answering)."""

    def __init__(self, meters: list[SimulatedMeter], audit_path: Path, faults: FaultScript) -> None:
        settings = SerialSettings("sim", baud=115200, parity=Parity.NONE)
        self.ahead = timedelta(0)
        """How far the bus's clock (and so every meter's clock) runs ahead of START."""
        super().__init__(meters, settings, clock=self._now, faults=faults, name="bus-1")
        self.audit_path = audit_path
        self.audit_at_relay: list[str] = []
        self.silent_after_relay = False
        self.ignore_relay = False
        self.relay_orders = 0

    def _now(self) -> datetime:
        return START + self.ahead

    def on_frame(self, frame: Frame, frame_end: float) -> list[Burst]:
        if frame.control.function == Function.RELAY_CONTROL:
            self.relay_orders += 1
            text = self.audit_path.read_text() if self.audit_path.exists() else ""
            self.audit_at_relay.append(text)
            return [] if self.ignore_relay else super().on_frame(frame, frame_end)
        if self.silent_after_relay and self.relay_orders:
            return []
        return super().on_frame(frame, frame_end)


@dataclass
class Rig:
    engine: Engine
    bus: WatchedBus
    audit_path: Path
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@pytest.fixture
async def audit_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    faults: list[ScheduledFault] = getattr(request, "param", [])
    audit_path = tmp_path / "audit.jsonl"
    script = FaultScript(faults)
    meters = [
        SimulatedMeter(
            SimulatedMeterConfig(
                address,
                StaticSource({"voltage_a": 230.0, "energy_active_import_total": ENERGY[m]}),
                meter_id=m,
                reply_delay=0.002,
            ),
            faults=script,
        )
        for m, address in ADDRESSES.items()
    ]
    bus = WatchedBus(meters, audit_path, script)
    network = MemoryNetwork()
    device_end = network.listen("bus-1")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(fleet(), "audit-test"),
        store,
        clock=WarpedClock(START, speed=1),
        memory=network,
        options=EngineOptions(jitter=0, maintenance=False, audit_path=audit_path),
    )
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        yield Rig(engine, bus, audit_path)
        runner.cancel()
        server.cancel()
    await store.aclose()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_relay_intent_is_on_disk_naming_the_user_before_the_meter_gets_the_order(
    audit_rig: Rig,
) -> None:
    result = await audit_rig.engine.operations.relay("m1", RelayAction.TRIP, "operator-anna")
    assert result.verified
    [on_disk] = audit_rig.bus.audit_at_relay
    [intent] = [json.loads(line) for line in on_disk.splitlines()]
    assert (intent["user"], intent["meter"], intent["command"], intent["outcome"]) == (
        "operator-anna",
        "m1",
        "relay trip",
        "intent",
    )
    outcome = lines(audit_rig.audit_path)[-1]
    assert (outcome["outcome"], outcome["ref"]) == ("ok", intent["id"])


async def test_an_acknowledged_trip_whose_read_back_fails_is_unverified_and_sent_once(
    audit_rig: Rig,
) -> None:
    audit_rig.bus.silent_after_relay = True
    result = await audit_rig.engine.operations.relay("m1", RelayAction.TRIP, "operator-anna")
    assert (result.state, result.verified) == (RelayState.UNKNOWN, False)
    assert "timeout" in result.read_back_error
    assert audit_rig.bus.relay_orders == 1, "a failed read-back must not resend the order"
    assert audit_rig.bus.meter("m1").relay_open
    newest = audit_rig.engine.audit.recent()[0]
    assert (newest.command, newest.outcome, newest.user) == (
        "relay trip",
        "unverified",
        "operator-anna",
    )
    assert "read-back failed" in newest.detail


async def test_a_relay_order_without_a_reply_is_audited_unknown_not_failed(audit_rig: Rig) -> None:
    audit_rig.bus.ignore_relay = True
    with pytest.raises(ReadFailed, match="no reply"):
        await audit_rig.engine.operations.relay("m1", RelayAction.TRIP, "operator-anna")
    assert audit_rig.bus.relay_orders == 2, "sent, then retried once"
    newest = audit_rig.engine.audit.recent()[0]
    assert (newest.outcome, newest.user) == ("unknown", "operator-anna")


async def test_a_relay_order_that_never_got_the_bus_is_audited_failed_not_sent(
    audit_rig: Rig,
) -> None:
    audit_rig.engine.workers["bus-1"].close()
    with pytest.raises(BusClosed):
        await audit_rig.engine.operations.relay("m1", RelayAction.TRIP, "operator-anna")
    assert audit_rig.bus.relay_orders == 0
    newest = audit_rig.engine.audit.recent()[0]
    assert newest.outcome == "failed"
    assert newest.detail.startswith("not sent: BusClosed")


async def test_broadcast_time_sync_is_audited_with_who_asked(audit_rig: Rig) -> None:
    assert await audit_rig.engine.clocks.broadcast_time_sync(user="control-room") == 1
    await audit_rig.engine.clocks.broadcast_time_sync()
    entries = [e for e in audit_rig.engine.audit.recent() if e.command == "broadcast time sync"]
    assert [(e.user, e.meter, e.outcome) for e in entries] == [
        ("scheduler", "*", "ok"),
        ("scheduler", "*", "intent"),
        ("control-room", "*", "ok"),
        ("control-room", "*", "intent"),
    ]
    assert "channel bus-1" in entries[0].detail
    assert entries[2].ref == entries[3].id


async def test_a_clock_set_is_audited_before_the_write_and_after(audit_rig: Rig) -> None:
    audit_rig.bus.ahead = timedelta(hours=1)
    drift = await audit_rig.engine.clocks.check_clock("m1", user="operator-anna")
    assert drift > 30
    entries = [e for e in audit_rig.engine.audit.recent("m1") if e.command == "clock set"]
    assert [(e.user, e.outcome) for e in entries] == [
        ("operator-anna", "ok"),
        ("operator-anna", "intent"),
    ]
    assert entries[0].ref == entries[1].id


async def test_replacing_a_meter_by_address_audits_both_addresses_and_both_reads(
    audit_rig: Rig,
) -> None:
    old = audit_rig.engine.registry.get("m2")
    new = dataclasses.replace(old, address=ADDRESSES["m3"])
    entry = await audit_rig.engine.fleet.change(new, "fleet-admin")
    assert audit_rig.engine.registry.get("m2").address == ADDRESSES["m3"]
    assert (entry.command, entry.outcome, entry.user) == ("meter replace", "ok", "fleet-admin")
    assert entry.data["old_address"] == f"address {ADDRESSES['m2']} on bus-1"
    assert entry.data["new_address"] == f"address {ADDRESSES['m3']} on bus-1"
    [final] = entry.data["final_read_old"]["readings"]
    [first] = entry.data["first_read_new"]["readings"]
    assert (final["quantity"], final["value"], final["unit"]) == (
        "energy_active_import_total",
        pytest.approx(ENERGY["m2"]),
        "kWh",
    )
    assert first["value"] == pytest.approx(ENERGY["m3"])


async def test_a_new_meter_replacing_an_unreachable_one_states_the_final_read_missing(
    audit_rig: Rig,
) -> None:
    gone = MeterConfig(
        id="old-9", channel="bus-1", protocol="dlt645-2007", plan="flat", address="000000000009"
    )
    await audit_rig.engine.fleet.change(gone, "fleet-admin")
    new = MeterConfig(
        id="m3", channel="bus-1", protocol="dlt645-2007", plan="flat", address=ADDRESSES["m3"]
    )
    entry = await audit_rig.engine.fleet.change(new, "fleet-admin", replaces="old-9")
    assert "old-9" not in audit_rig.engine.registry
    assert "m3" in audit_rig.engine.registry
    assert entry.data["old_meter"] == "old-9"
    assert "timeout" in entry.data["final_read_old"]["missing"]
    assert entry.data["first_read_new"]["readings"][0]["value"] == pytest.approx(ENERGY["m3"])
    assert "final read of old: missing (timeout" in entry.detail


# -- the audit file across restarts -----------------------------------------------------------


def test_history_is_loaded_at_start_and_filtered_and_paged_by_meter(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first_run = AuditLog(path)
    for index in range(5):
        for meter in ("m1", "m2"):
            intent = first_run.begin(START + timedelta(minutes=index), "anna", meter, "relay trip")
            first_run.complete(intent, "ok", f"#{index}", at=START + timedelta(minutes=index))
    second_run = AuditLog(path)
    assert len(second_run.recent()) == 20
    page = second_run.recent("m2", limit=3, offset=2)
    assert [(e.meter, e.outcome, e.detail) for e in page] == [
        ("m2", "ok", "#3"),
        ("m2", "intent", ""),
        ("m2", "ok", "#2"),
    ]
    tail = AuditLog(path, keep=4).recent()
    assert [(e.meter, e.detail) for e in tail] == [
        ("m2", "#4"),
        ("m2", ""),
        ("m1", "#4"),
        ("m1", ""),
    ]


def test_an_intent_left_by_a_killed_run_is_closed_unknown_at_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    intent = AuditLog(path).begin(START, "anna", "m1", "relay trip", "address 000000000001")
    restarted = AuditLog(path, now=START + timedelta(hours=1))
    newest = restarted.recent()[0]
    assert (newest.user, newest.meter, newest.command, newest.outcome) == (
        "anna",
        "m1",
        "relay trip",
        "unknown",
    )
    assert newest.ref == intent.id
    assert "check the meter" in newest.detail
    AuditLog(path)
    outcomes = [e["outcome"] for e in lines(path)]
    assert outcomes == ["intent", "unknown"], "closed once, not at every start"


def test_a_torn_line_is_skipped_counted_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.complete(log.begin(START, "anna", "m1", "relay trip"), "ok", at=START)
    with path.open("a") as handle:
        handle.write('{"at": "2026-11-23T04:00:00+00:00", "user": "an')
    restarted = AuditLog(path)
    assert restarted.unreadable_lines == 1
    assert [e.outcome for e in restarted.recent()] == ["ok", "intent"]
    restarted.begin(START, "bob", "m2", "relay trip")
    assert AuditLog(path).recent()[1].user == "bob", "an entry after a torn line is not lost"


async def test_a_replacement_that_cannot_be_kept_changes_nothing_and_is_audited_failed(
    audit_rig: Rig, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    audit_rig.engine.fleet.overlay.path = blocker / "fleet-overlay.json"
    old = audit_rig.engine.registry.get("m2")
    with pytest.raises(OSError, match="not-a-directory"):
        await audit_rig.engine.fleet.change(
            dataclasses.replace(old, address=ADDRESSES["m3"]), "admin"
        )
    assert audit_rig.engine.registry.get("m2") == old, "not acknowledged, not applied"
    failed, intent = audit_rig.engine.audit.recent("m2")[:2]
    assert (failed.outcome, failed.ref, intent.outcome) == ("failed", intent.id, "intent")
    assert "final_read_old" in failed.data


async def test_a_removal_during_a_replacement_waits_for_it_and_wins(
    audit_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replacement awaits the bus twice; a removal arriving meanwhile must not be undone
    by the replacement's second half."""
    engine = audit_rig.engine
    reading_old, go_on = asyncio.Event(), asyncio.Event()
    snapshot = engine.fleet._energy_snapshot

    async def held_snapshot(meter: MeterConfig) -> dict[str, object]:
        reading_old.set()
        await go_on.wait()
        return await snapshot(meter)

    monkeypatch.setattr(engine.fleet, "_energy_snapshot", held_snapshot)
    new = dataclasses.replace(engine.registry.get("m2"), address=ADDRESSES["m3"])
    async with asyncio.TaskGroup() as group:
        replacement = group.create_task(engine.fleet.change(new, "admin-a"))
        await reading_old.wait()
        group.create_task(engine.fleet.remove("m2", "admin-b"))
        go_on.set()
    assert replacement.result().outcome == "ok"
    assert "m2" not in engine.registry
    assert [e.command for e in engine.audit.recent("m2")][:2] == ["meter remove", "meter replace"]


def test_only_the_tail_of_a_long_file_is_read_at_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for index in range(300):
        log.append(AuditEntry(START, "anna", "m1", "meter update", "ok", f"#{index:03d}"))
    lines_read = tail_lines(path, 7, block=128)
    assert [json.loads(line)["detail"] for line in lines_read] == [
        f"#{index:03d}" for index in range(293, 300)
    ]
    assert [e.detail for e in AuditLog(path, keep=3).recent()] == ["#299", "#298", "#297"]
