"""Disk full and budget full are states, not crashes: the head-end keeps running, raises an
alarm, exports a metric, bounds its RAM by a stated policy, counts what it gave up, and exits
non-zero when it stops with data lost. The record writer's own behaviour (group commit,
callbacks, overflow, refusals) is tested in tests/headend/collection/test_writer.py."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headend.api.facade import HeadendFacade
from headend.api.metrics import engine_families, render
from headend.bus.backoff import Backoff
from headend.clock import WarpedClock
from headend.collection.storage_setup import open_storage
from headend.collection.writer import Overflow, RecordWriter, StorageState, WriterLimits
from headend.config.errors import ConfigError
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import TransportLink
from storage.embedded import SqliteStore
from storage.errors import OutboxFull, StorageError, StorageFull
from storage.influx_v2 import InfluxV2Sink
from storage.outbox import open_outbox
from storage.records import Reading, ReadingKind
from storage.retry import RetryPolicy
from tests.support.engine_rig import START, fast_bus, two_meter_fleet
from tests.support.influx_servers import VictoriaMetrics
from tests.support.ports import free_tcp_port
from transports.memory import MemoryNetwork

QUICK = RetryPolicy(attempts=1, initial_delay_s=0.01, max_delay_s=0.05)
REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def bounded(event: asyncio.Event) -> None:
    async with asyncio.timeout(60):  # a broken writer fails the test instead of hanging it
        await event.wait()


async def test_embedded_store_past_its_disk_budget_is_an_alarm_not_a_crash(
    tmp_path: Path,
) -> None:
    clock = WarpedClock(START, speed=600)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, [])
    device_end = network.listen("bus-1")
    # A budget of one page: the store is full as soon as its tables need to grow, exactly as
    # on a full disk (SQLite reports SQLITE_FULL either way).
    store = await SqliteStore.open(tmp_path / "store.sqlite", max_bytes=1)
    limits = WriterLimits(limit=50, overflow=Overflow.DROP_OLDEST)
    engine = Engine(
        parse_fleet_config(two_meter_fleet(), "test"),
        store,
        clock=clock,
        memory=network,
        options=EngineOptions(jitter=0, maintenance=False, writer_limits=limits),
    )
    try:
        async with asyncio.TaskGroup() as group:
            server = group.create_task(bus.serve(TransportLink(device_end)))
            runner = group.create_task(engine.run())
            await bounded(engine.writer.overflowing)
            assert not runner.done()  # still collecting
            assert engine.writer.stats.state is StorageState.FULL
            assert engine.writer.stats.pending <= limits.limit
            [alarm] = [a for a in engine.alarms.open_alarms() if a.kind == "disk_full"]
            assert "database or disk is full" in alarm.message
            text = render(engine_families(HeadendFacade(engine), None))
            assert 'headend_storage_state{state="full"} 1' in text
            assert 'headend_storage_dropped_total{policy="drop_oldest"} ' in text
            engine.stop()
            await runner  # a clean stop, not an exception from the full disk
            server.cancel()
    finally:
        await store.aclose()
    assert engine.writer.stats.lost >= engine.writer.stats.dropped > 0


def batch(number: int) -> list[Reading]:
    return [
        Reading(
            "FULL",
            "energy_active_import_total",
            float(number * 10 + i),
            "kWh",
            T0 + timedelta(minutes=number * 10 + i),
            ReadingKind.ENERGY,
        )
        for i in range(10)
    ]


@pytest.mark.parametrize(
    ("overflow", "kept"), [(Overflow.DROP_OLDEST, 3), (Overflow.DROP_NEWEST, 2)]
)
async def test_outbox_budget_full_keeps_ram_bounded_and_drops_by_policy(
    own_victoria_metrics: VictoriaMetrics, tmp_path: Path, overflow: Overflow, kept: int
) -> None:
    server = own_victoria_metrics
    await asyncio.to_thread(server.stop)  # the database is away: the outbox fills up
    states: list[tuple[StorageState, type[StorageError] | None]] = []
    changed = {state: asyncio.Event() for state in StorageState}

    def note(state: StorageState, error: StorageError | None) -> None:
        states.append((state, None if error is None else type(error)))
        changed[state].set()

    target = InfluxV2Sink(server.url, bucket="b", org="o", retry=QUICK)
    one_batch = 10 * len(
        b"energy,meter=FULL,quantity=energy_active_import_total,unit=kWh "
        b'value=10.0,quality="actual" 1772327400000000000'
    )
    async with open_outbox(
        tmp_path / "outbox.db", target, capacity_bytes=int(one_batch * 2.5), backoff=QUICK
    ) as outbox:
        writer = RecordWriter(
            outbox,
            backoff=Backoff(0.01, 0.05),
            limits=WriterLimits(limit=10, overflow=overflow),
            on_state=note,
        )
        async with asyncio.TaskGroup() as group:
            running = group.create_task(writer.run())
            assert await writer.store(batch(0))
            assert await writer.store(batch(1))
            writer.put(batch(2))  # does not fit the outbox budget: held in RAM
            await bounded(changed[StorageState.FULL])
            writer.put(batch(3))  # does not fit the RAM bound either: one of them goes
            assert writer.stats.pending == 10
            assert writer.stats.dropped == 10
            await asyncio.to_thread(server.start)
            await bounded(changed[StorageState.OK])
            await outbox.wait_drained()
            running.cancel()
    assert states == [(StorageState.FULL, OutboxFull), (StorageState.OK, None)]
    assert issubclass(OutboxFull, StorageFull)
    [series] = server.export('energy_value{meter="FULL"}')
    stored = sorted(series["values"])
    assert stored == [float(v) for n in (0, 1, kept) for v in range(n * 10, n * 10 + 10)]
    assert writer.stats.lost == 10


CONFIG = """
[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:{port}"

[[transformers]]
name = "T1"
rated_kva = 400

[plans.flat]
[[plans.flat.reads]]
quantities = ["voltage_a", "voltage_b", "voltage_c", "current_a", "current_b", "current_c"]
interval = "1s"

[[meters]]
address = "000000000001"
channel = "bus-1"
plan = "flat"
transformer = "T1"

[storage]
kind = "embedded"
max_size_mb = 0.000001
buffer_records = 10

[api]
listen = "127.0.0.1:0"
"""


async def test_headend_run_exits_non_zero_and_says_how_much_was_lost(tmp_path: Path) -> None:
    # Nobody listens on the meter's gateway: every slot is stored as a missing reading, which
    # fills the one-page budget within seconds.
    config = tmp_path / "fleet.toml"
    config.write_text(CONFIG.format(port=free_tcp_port()))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from headend.cli import main; sys.exit(main(sys.argv[1:]))",
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "var"),
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("disk full" in line for line in seen):
                line = (await process.stderr.readline()).decode()
                assert line, f"headend run ended early: {seen}"
                seen.append(line)
            while not any("buffer full" in line for line in seen):
                seen.append((await process.stderr.readline()).decode())
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest = (await process.stderr.read()).decode()
            code = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 7, rest
    assert "Traceback" not in "".join(seen) + rest
    summary = [line for line in rest.splitlines() if line.startswith("headend run:")]
    assert len(summary) == 1
    assert "records were not stored" in summary[0]
    assert "database or disk is full" in summary[0]


async def test_enospc_from_the_file_layer_is_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:

        async def no_space(function: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(store._thread, "run", no_space)
        with pytest.raises(StorageFull, match=r"disk full: OSError: .*No space left on device"):
            await store.write(batch(0))
    finally:
        monkeypatch.undo()
        await store.aclose()


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"overflow": "drop_random"}, "storage.overflow"),
        ({"buffer_records": 0}, "storage.buffer_records"),
        ({"max_size_mb": -1}, "storage.max_size_mb"),
    ],
)
async def test_full_storage_settings_are_checked_at_load(
    tmp_path: Path, settings: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError, match=rf"fleet\.toml: {re.escape(key)}: "):
        parse_fleet_config({"storage": settings}, "fleet.toml")


async def test_full_storage_settings_reach_the_writer(tmp_path: Path) -> None:
    settings = {"buffer_records": 500, "overflow": "drop_newest", "max_size_mb": 1}
    storage = parse_fleet_config({"storage": settings}, "fleet.toml").storage
    async with open_storage(storage, "fleet.toml", data_dir=tmp_path) as stack:
        assert stack.writer_limits == WriterLimits(500, Overflow.DROP_NEWEST)
