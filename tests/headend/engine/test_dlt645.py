"""The engine against simulated DL/T 645 meters on an in-memory RS-485 bus.

Scheduled block reads, relay control verified by read-back, clock correction, and faults
turning into missing readings with their reasons and offline alarms (the daily frozen
backfill is in tests/headend/collection/test_backfill.py).
"""

from __future__ import annotations

import asyncio
import gc
from datetime import date, timedelta
from pathlib import Path

import pytest

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.drivers.block_support import BlockSupport
from headend.drivers.dlt645.control import RelayState
from headend.engine import Engine, EngineOptions
from headend.errors import ReadFailed
from headend.gc_tuning import YOUNG_GC_THRESHOLD
from protocols.dlt645 import RelayAction
from simulators.dlt645 import (
    ClockDrift,
    CorruptChecksum,
    ErrorReply,
    GarbageBytes,
    GatewayDisconnect,
    MeterReplaced,
    NoReply,
    PtyPort,
    ScheduledFault,
    SlowReply,
    TcpGateway,
    TransportLink,
    WrongAddress,
)
from storage.embedded import SqliteStore
from storage.records import Quality, ReadingKind
from tests.support.engine_rig import M1, M2, START, Rig, collect, fast_bus, two_meter_fleet
from transports.memory import MemoryNetwork


async def test_block_reads_land_with_slot_stamps(rig: Rig) -> None:
    readings = await collect(
        rig.live,
        lambda seen: (
            {(r.meter, r.quantity) for r in seen if r.quality is Quality.ACTUAL}
            >= {(M1, "voltage_c"), (M2, "voltage_c"), (M1, "energy_active_import_total")}
        ),
    )
    actual = {(r.meter, r.quantity): r for r in readings if r.quality is Quality.ACTUAL}
    assert actual[(M1, "voltage_a")].value == pytest.approx(231.2)
    assert actual[(M2, "voltage_b")].value == pytest.approx(229.8)
    assert actual[(M1, "voltage_a")].timestamp.second == 0
    energy = actual[(M1, "energy_active_import_total")]
    assert energy.kind is ReadingKind.ENERGY
    assert 1000 + 2 * 24 * 10 - 1 < energy.value < 1000 + 2 * 24 * 11  # type: ignore[operator]
    # one block read per meter for the three voltages: 0201FF00 went out, 02010100 did not
    sent = [rec.data.hex() for rec in rig.engine.workers["bus-1"].connection.traffic]
    assert any("3334ff" not in s for s in sent)


async def test_relay_trip_is_verified_and_audited(rig: Rig) -> None:
    result = await rig.engine.operations.relay(M1, RelayAction.TRIP, "operator-anna")
    assert result.state is RelayState.OPEN
    assert result.verified
    assert rig.bus.meter(M1).relay_open
    entry = rig.engine.audit.recent()[0]
    assert (entry.user, entry.meter, entry.command, entry.outcome) == (
        "operator-anna",
        M1,
        "relay trip",
        "ok",
    )
    assert rig.engine.audit.path is not None
    assert "operator-anna" in rig.engine.audit.path.read_text()
    after = await rig.engine.operations.read_now(M1, ["current_a"])
    assert after[0].value == 0.0
    closed = await rig.engine.operations.relay(M1, RelayAction.CLOSE_DIRECT, "operator-anna")
    assert closed.state is RelayState.CLOSED


@pytest.mark.parametrize("rig", [[ScheduledFault(NoReply(), meter=M2)]], indirect=True)
async def test_silent_meter_goes_offline_with_timeout_reason(rig: Rig) -> None:
    readings = await collect(rig.live, lambda seen: any(r.reason == "meter_offline" for r in seen))
    m2 = [r for r in readings if r.meter == M2]
    assert {r.quality for r in m2} == {Quality.MISSING}
    assert {r.reason for r in m2} >= {"timeout", "meter_offline"}
    assert any(r.meter == M1 and r.quality is Quality.ACTUAL for r in readings)
    assert ("meter_offline", M2) in {(a.kind, a.subject) for a in rig.engine.alarms.open_alarms()}
    with pytest.raises(ReadFailed, match="no reply"):
        await rig.engine.operations.read_now(M2, ["voltage_a"])


@pytest.mark.parametrize("rig", [[ScheduledFault(CorruptChecksum(), meter=M1)]], indirect=True)
async def test_corrupt_replies_are_checksum_failures(rig: Rig) -> None:
    readings = await collect(
        rig.live,
        lambda seen: (
            any(r.meter == M1 and r.reason == "checksum" for r in seen)
            and any(r.meter == M2 for r in seen)
        ),
    )
    assert all(r.quality is Quality.ACTUAL for r in readings if r.meter == M2)
    assert all(r.quality is Quality.MISSING for r in readings if r.meter == M1)


@pytest.mark.parametrize(
    "rig", [[ScheduledFault(ClockDrift(seconds_per_day=4 * 86400), meter=M1)]], indirect=True
)
async def test_clock_drift_is_measured_and_corrected(rig: Rig) -> None:
    await collect(rig.live, lambda seen: len(seen) >= 1)  # let simulated time pass
    drift = await rig.engine.clocks.check_clock(M1, user="operator-anna")
    assert abs(drift) > 30
    after = await rig.engine.clocks.check_clock(M1, user="operator-anna")
    assert abs(after) < abs(drift)
    assert abs(after) < 30
    assert rig.engine.audit.recent()[-1].command == "clock set"


async def test_graceful_stop_finishes_reads_and_flushes(tmp_path: Path) -> None:
    clock = WarpedClock(START, speed=60)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, [])
    device_end = network.listen("bus-1")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(two_meter_fleet(), "test"),
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(jitter=0, maintenance=False, writer_interval=3600),
    )
    live = engine.live.subscribe()
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        runner = group.create_task(engine.run())
        published = await collect(live, lambda seen: len(seen) >= 8)
        engine.stop()
        await runner
        server.cancel()
    while not live.empty():
        published.append(live.get_nowait())
    stored = await store.stored_points(
        ReadingKind.INSTANT,
        [M1, M2],
        ["voltage_a", "voltage_b", "voltage_c", "current_a"],
        START - timedelta(hours=1),
        START + timedelta(days=1),
    )
    await store.aclose()
    instant = [r for r in published if r.kind is ReadingKind.INSTANT]
    # nothing published is lost: the writer (flushing only every hour) flushed on stop
    assert len(stored) == len(instant)
    assert engine.writer.stats.pending == 0


@pytest.mark.parametrize(
    ("rig", "reason", "neighbour_unharmed"),
    [
        # a reply 2 s late occupies the simulated line, so the neighbour suffers too
        ([ScheduledFault(SlowReply(delay_ms=2000), meter=M1)], "timeout", False),
        ([ScheduledFault(WrongAddress("000000000099"), meter=M1)], "wrong_address", True),
        ([ScheduledFault(ErrorReply(error_word=0x02), meter=M1)], "error_response", True),
        ([ScheduledFault(MeterReplaced("000000000077"), meter=M1)], "timeout", True),
    ],
    indirect=["rig"],
)
async def test_each_wire_fault_ends_as_its_reason(
    rig: Rig, reason: str, neighbour_unharmed: bool
) -> None:
    readings = await collect(
        rig.live,
        lambda seen: (
            any(r.meter == M1 and r.reason == reason for r in seen)
            and (not neighbour_unharmed or any(r.meter == M2 and r.value is not None for r in seen))
        ),
    )
    assert not any(r.meter == M1 and r.quality is Quality.ACTUAL for r in readings)
    tally = rig.engine.completeness.meter_day(M1, date(2026, 11, 23))
    assert tally.failures.get(reason, 0) >= 1
    assert tally.received == 0


@pytest.mark.parametrize(
    "rig", [[ScheduledFault(GarbageBytes(length=12), meter=M1)]], indirect=True
)
async def test_noise_before_replies_does_not_lose_them(rig: Rig) -> None:
    readings = await collect(
        rig.live,
        lambda seen: sum(r.meter == M1 and r.quality is Quality.ACTUAL for r in seen) >= 4,
    )
    assert all(r.quality is Quality.ACTUAL for r in readings if r.meter == M1)


async def test_gateway_disconnect_over_tcp_reconnects(tmp_path: Path) -> None:
    clock = WarpedClock(START, speed=60)
    window_end = START + timedelta(minutes=3)
    bus = fast_bus(clock.now, [ScheduledFault(GatewayDisconnect(), start=START, end=window_end)])
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    async with TcpGateway(bus) as gateway:
        document = two_meter_fleet()
        document["channels"][0]["url"] = f"tcp://127.0.0.1:{gateway.port}"  # type: ignore[index]
        engine = Engine(
            parse_fleet_config(document, "test"),
            store,
            clock=clock,
            options=EngineOptions(jitter=0, offline_after=10, maintenance=False),
        )
        live = engine.live.subscribe()
        async with asyncio.TaskGroup() as group:
            runner = group.create_task(engine.run())
            readings = await collect(
                live,
                lambda seen: (
                    any(r.reason == "connection_lost" for r in seen)
                    and any(r.quality is Quality.ACTUAL for r in seen)
                ),
            )
            engine.stop()
            await runner
    await store.aclose()
    lost = [r for r in readings if r.reason == "connection_lost"]
    back = [r for r in readings if r.quality is Quality.ACTUAL]
    assert max(r.timestamp for r in lost) < window_end + timedelta(minutes=1)
    assert min(r.timestamp for r in back) >= window_end - timedelta(minutes=1)
    assert engine.workers["bus-1"].stats.reconnects >= 1


async def test_collects_over_a_serial_pseudo_terminal(tmp_path: Path) -> None:
    clock = WarpedClock(START, speed=60)
    bus = fast_bus(clock.now, [])
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    async with PtyPort(bus) as pty:
        document = two_meter_fleet()
        document["channels"][0]["url"] = f"serial://{pty.path}?baud=115200&parity=N"  # type: ignore[index]
        engine = Engine(
            parse_fleet_config(document, "test"),
            store,
            clock=clock,
            options=EngineOptions(jitter=0, maintenance=False),
        )
        live = engine.live.subscribe()
        async with asyncio.TaskGroup() as group:
            runner = group.create_task(engine.run())
            readings = await collect(
                live,
                lambda seen: {r.meter for r in seen if r.quality is Quality.ACTUAL} == {M1, M2},
            )
            engine.stop()
            await runner
    await store.aclose()
    voltage = next(r for r in readings if r.quantity == "voltage_a" and r.value is not None)
    assert voltage.value == pytest.approx(231.2)


async def test_scheduled_reads_run_without_a_task_per_read(rig: Rig) -> None:
    """Each read in flight used to hold a task awaiting its bus future; now one completion loop
    per channel takes every outcome (the per-read task was a large share of a read's CPU)."""
    collector = rig.engine.collectors["bus-1"]
    factory = collector._read_factory
    seen: list[set[str]] = []

    def spying(meter, quantities, slot):  # type: ignore[no-untyped-def]
        action = factory(meter, quantities, slot)

        async def spy(connection):  # type: ignore[no-untyped-def]
            seen.append({task.get_coro().__qualname__ for task in asyncio.all_tasks()})  # type: ignore[union-attr]
            return await action(connection)

        return spy

    collector._read_factory = spying
    await collect(rig.live, lambda _: len(seen) >= 4)
    assert all("ChannelCollector._complete" not in names for names in seen), seen
    assert all("ChannelCollector._completions" in names for names in seen), seen


async def test_the_collector_is_tuned_while_running_and_restored_after(tmp_path: Path) -> None:
    """Start-up heap frozen, young collections rarer while the engine runs; as before after."""
    before = gc.get_threshold()
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    network = MemoryNetwork()
    network.listen("bus-1")  # nobody answers: reads may fail, which is not the point here
    engine = Engine(
        parse_fleet_config(two_meter_fleet(), "test"),
        store,
        clock=WarpedClock(START, speed=60),
        memory=network,
        options=EngineOptions(jitter=0, maintenance=False, audit_path=tmp_path / "audit.jsonl"),
    )
    async with asyncio.TaskGroup() as group:
        running = group.create_task(engine.run())
        await engine.ready.wait()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= YOUNG_GC_THRESHOLD
        engine.stop()
        await running
    await store.aclose()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_a_meter_changed_in_the_fleet_has_its_learned_block_support_dropped(
    rig: Rig,
) -> None:
    book = rig.engine.block_support
    book.learn(M1, "0201FF00", BlockSupport(False, "refused with error word 0x02"))
    book.learn(M2, "0201FF00", BlockSupport(False, "refused with error word 0x02"))
    meter = rig.engine.registry.get(M1)
    rig.engine.registry.add(meter)  # the same id again: an API update
    assert book.of_meter(M1) == {}
    assert book.refused(M2) == {"0201FF00"}
