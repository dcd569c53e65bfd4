"""The daily frozen pull from a simulated concentrator over TCP: yesterday, then 补抄."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headend.collection.terminal_pull import FrozenPull
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.terminals import TerminalServer
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from storage.embedded import SqliteStore
from storage.records import Quality
from tests.support.frozen_writer import Stored

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 0, 20, tzinfo=TZ)
KEEPS = 5
KEY = "4403-00012"
POINTS = (1, 2, 3)


def _total(meter_id: str, day: date) -> float:
    return 500.0 + int(meter_id[1:]) * 100.0 + (day - date(2026, 11, 1)).days * 4.25


TERMINAL = ConcentratorConfig(
    name="jzq-T1",
    address=KEY,
    heartbeat=60.0,
    transformer="T1",
    keeps_days=KEEPS,
    meters=tuple(TerminalMeterConfig(f"m{p}", "jzq-T1", p, transformer="T1") for p in POINTS),
)


@pytest.fixture
async def concentrator_rig() -> AsyncIterator[tuple[TerminalServer, SimulatedConcentrator]]:
    store = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS],
        _total,
        lambda: TODAY,
        keeps_days=KEEPS,
    )
    concentrator = SimulatedConcentrator(
        Address("4403", 12), store, lambda: NOW.replace(tzinfo=None), units_per_frame=2
    )
    async with TerminalServer(heartbeat_periods={KEY: 60.0}) as server, asyncio.TaskGroup() as g:
        task = g.create_task(concentrator.run("127.0.0.1", server.port))
        async with asyncio.timeout(10):
            await server.wait_online(KEY)
            await concentrator.logged_in.wait()
        yield server, concentrator
        task.cancel()


def _pull(server: TerminalServer, stored: Stored) -> FrozenPull:
    master = MasterConfig(reply_timeout=5.0, retries=0)
    return FrozenPull(server, {TERMINAL.name: TERMINAL}, master, TZ, stored)


async def test_yesterday_is_actual_and_older_days_backfilled_equal_to_the_store(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = concentrator_rig
    stored = Stored()
    pull = _pull(server, stored)
    await pull.run_pass(NOW.astimezone(UTC))
    yesterday = TODAY - timedelta(days=1)
    for point in POINTS:
        for offset in range(1, KEEPS + 1):
            day = TODAY - timedelta(days=offset)
            truth = concentrator.store.frozen(point, day)
            assert truth is not None
            names = ["energy_active_import_total"] + [
                f"energy_active_import_t{n}" for n in (1, 2, 3, 4)
            ]
            got = [stored.value(f"m{point}", name, day) for name in names]
            assert [value for value, _ in got] == list(truth)
            expected = Quality.ACTUAL if day == yesterday else Quality.BACKFILLED
            assert {quality for _, quality in got} == {expected}
    summary = pull.completeness(TODAY)["jzq-T1"]
    assert (summary.first_attempt, summary.backfilled, summary.missing) == (3, 12, 0)
    assert {r.tags["transformer"] for r in stored.readings} == {"T1"}
    assert {r.timestamp.utcoffset() for r in stored.readings} == {timedelta(0)}


async def test_a_missing_day_and_an_unreachable_meter_are_re_read_later(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = concentrator_rig
    stored = Stored()
    pull = _pull(server, stored)
    hole = TODAY - timedelta(days=3)
    yesterday = TODAY - timedelta(days=1)
    concentrator.store.missing.add(hole)
    concentrator.store.unreachable.add(2)
    await pull.run_pass(NOW)
    assert not [r for r in stored.readings if r.meter == "m2"]
    assert not [
        r for r in stored.readings if r.timestamp.astimezone(TZ).date() == hole + timedelta(days=1)
    ]
    first = pull.completeness(TODAY)["jzq-T1"]
    assert (first.first_attempt, first.missing) == (2, KEEPS + 2)  # m2's 5 days, the hole's 2

    concentrator.store.missing.clear()
    concentrator.store.unreachable.clear()
    await pull.run_pass(NOW + timedelta(hours=1))
    assert stored.value("m2", "energy_active_import_total", yesterday) == (
        concentrator.store.frozen(2, yesterday)[0],  # type: ignore[index]
        Quality.BACKFILLED,
    )
    assert stored.value("m1", "energy_active_import_t3", hole) == (
        concentrator.store.frozen(1, hole)[3],  # type: ignore[index]
        Quality.BACKFILLED,
    )
    again = pull.completeness(TODAY)["jzq-T1"]
    assert (again.first_attempt, again.backfilled, again.missing) == (2, 13, 0)


async def test_a_day_the_writer_dropped_is_pulled_again(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, _ = concentrator_rig
    stored = Stored()
    stored.accept = False
    pull = _pull(server, stored)
    await pull.run_pass(NOW)
    assert pull.completeness(TODAY)["jzq-T1"].missing == 3 * KEEPS
    stored.accept = True
    await pull.run_pass(NOW)
    assert pull.completeness(TODAY)["jzq-T1"].missing == 0


async def test_an_offline_terminal_is_counted_and_waits() -> None:
    async with TerminalServer() as server:
        stored = Stored()
        pull = _pull(server, stored)
        await pull.run_pass(NOW)
    assert pull.stats.offline == 1
    assert stored.readings == []


async def test_the_archive_is_read_back_once_per_login_and_differences_reported(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = concentrator_rig
    concentrator.faults.archive = {2: "999999999999", 3: None}
    terminal = _addressed_terminal()
    stored = Stored()
    pull = FrozenPull(server, {terminal.name: terminal}, MasterConfig(retries=0), TZ, stored)
    await pull.run_pass(NOW)
    await pull.run_pass(NOW)
    assert [str(d) for d in pull.archive["jzq-T1"]] == [
        "terminal jzq-T1 pn 2 (meter m2): the terminal's archive has meter address "
        "999999999999, the fleet file 000000000002",
        "terminal jzq-T1 pn 3 (meter m3): not in the terminal's archive: it does not read "
        "this meter",
    ]
    assert pull.stats.archive_checks == 1
    assert {r.meter for r in stored.readings} == {"m1", "m2", "m3"}  # reported, still pulled


def _addressed_terminal() -> ConcentratorConfig:
    return ConcentratorConfig(
        name="jzq-T1",
        address=KEY,
        heartbeat=60.0,
        transformer="T1",
        keeps_days=1,
        meters=tuple(
            TerminalMeterConfig(f"m{p}", "jzq-T1", p, address=f"{p:012d}") for p in POINTS
        ),
    )


async def test_with_push_archive_the_differing_records_are_written_and_read_back_equal(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = concentrator_rig
    concentrator.faults.archive = {2: "999999999999", 3: None}
    terminal = _addressed_terminal()
    master = MasterConfig(retries=0, push_archive=True)
    pull = FrozenPull(server, {terminal.name: terminal}, master, TZ, Stored())
    await pull.run_pass(NOW)
    assert pull.archive["jzq-T1"] == []  # nothing differs after the write
    assert pull.archive_pushed["jzq-T1"] == [2, 3]
    assert (pull.stats.archive_differences, pull.stats.archive_pushed) == (2, 2)
    assert concentrator.faults.archive == {}  # the terminal's archive is the fleet's now


async def test_a_terminal_that_denies_the_archive_write_keeps_its_differences_reported(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = concentrator_rig
    concentrator.faults.archive = {2: "999999999999"}
    concentrator.faults.refuse_archive = True
    terminal = _addressed_terminal()
    master = MasterConfig(retries=0, push_archive=True)
    pull = FrozenPull(server, {terminal.name: terminal}, master, TZ, Stored())
    await pull.run_pass(NOW)
    assert [d.pn for d in pull.archive["jzq-T1"]] == [2]
    assert pull.archive_pushed["jzq-T1"] == []
    assert concentrator.faults.archive == {2: "999999999999"}


async def test_after_a_restart_the_stored_days_are_not_pulled_again(
    concentrator_rig: tuple[TerminalServer, SimulatedConcentrator], tmp_path: Path
) -> None:
    server, _ = concentrator_rig
    stored = Stored()
    await _pull(server, stored).run_pass(NOW)
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write(stored.readings)
        restarted = _pull(server, Stored())
        await restarted.seed(store, NOW)
    finally:
        await store.aclose()
    await restarted.run_pass(NOW)
    assert restarted.stats.requests == 0
    assert restarted.completeness(TODAY)["jzq-T1"].missing == 0


@pytest.mark.parametrize(
    ("local_time", "seconds"),
    [
        (datetime(2026, 12, 2, 0, 5, tzinfo=TZ), 600.0),  # today's freeze + 15 min is ahead
        (datetime(2026, 12, 2, 0, 20, tzinfo=TZ), 86100.0),  # passed: tomorrow's
        (datetime(2026, 12, 1, 23, 0, tzinfo=TZ), 4500.0),
    ],
)
async def test_the_next_pull_is_pull_delay_after_the_coming_midnight_freeze(
    local_time: datetime, seconds: float
) -> None:
    async with TerminalServer() as server:
        pull = FrozenPull(server, {}, MasterConfig(pull_delay=900.0), TZ, Stored())
        assert pull.seconds_to_next_pull(local_time.astimezone(UTC)) == seconds
