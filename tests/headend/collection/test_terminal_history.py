"""A concentrator's daily reverse (F163) and monthly (F177) freezes, pulled over TCP after the
day's F161: stamped with the freeze time, the newest period actual, the rest backfilled, a
late record re-read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headend.collection.terminal_history import HistoryPull, freeze_time, history_pull
from headend.collection.terminal_pull import FrozenPull
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.terminals import TerminalServer
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from storage.records import Quality
from tests.support.frozen_writer import Stored

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 0, 20, tzinfo=TZ)
YESTERDAY = TODAY - timedelta(days=1)
KEEPS = 3
KEY = "4403-00012"
POINTS = (1, 2)
MASTER = MasterConfig(reply_timeout=5.0, retries=0)
EXPORT = ["energy_active_export_total", *(f"energy_active_export_t{n}" for n in (1, 2, 3, 4))]
MONTHLY = [
    "settlement_energy_active_import_total",
    *(f"settlement_energy_active_import_t{n}" for n in (1, 2, 3, 4)),
]
TERMINAL = ConcentratorConfig(
    name="jzq-T1",
    address=KEY,
    heartbeat=60.0,
    transformer="T1",
    keeps_days=KEEPS,
    meters=tuple(TerminalMeterConfig(f"m{p}", "jzq-T1", p, transformer="T1") for p in POINTS),
)


def _import(meter_id: str, day: date) -> float:
    return 500.0 + int(meter_id[1:]) * 100.0 + (day - date(2026, 11, 1)).days * 4.25


def _export(meter_id: str, day: date) -> float:
    return 2.0 + int(meter_id[1:]) * 0.5 + (day - date(2026, 11, 1)).days * 0.125


def _shown(meter_id: str, wall: datetime) -> dict[str, float] | None:
    """What the meter showed at a 15-minute slot; the terminal kept nothing before 00:30."""
    if wall < datetime.combine(YESTERDAY, datetime.min.time()).replace(minute=30):
        return None
    slot = wall.hour * 4 + wall.minute // 15
    p = int(meter_id[1:])
    return {"voltage_a": 220.0 + slot / 10, "current_a": p + slot / 1000, "power_active_total": 0.5}


@pytest.fixture
async def history_rig() -> AsyncIterator[tuple[TerminalServer, SimulatedConcentrator]]:
    store = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS],
        _import,
        lambda: TODAY,
        keeps_days=KEEPS,
        frozen_export=_export,
        shown=_shown,
    )
    concentrator = SimulatedConcentrator(
        Address("4403", 12), store, lambda: NOW.replace(tzinfo=None), units_per_frame=2
    )
    async with TerminalServer(heartbeat_periods={KEY: 60.0}) as server, asyncio.TaskGroup() as g:
        task = g.create_task(concentrator.run("127.0.0.1", server.port))
        async with asyncio.timeout(10):
            await server.wait_online(KEY)
        yield server, concentrator
        task.cancel()


def _pull(server: TerminalServer, stored: Stored) -> tuple[FrozenPull, HistoryPull]:
    history = HistoryPull(MASTER, TZ, stored)
    pull = FrozenPull(server, {TERMINAL.name: TERMINAL}, MASTER, TZ, stored, history=history)
    return pull, history


def test_freeze_times_are_the_end_of_the_day_and_of_the_month() -> None:
    (reverse, monthly) = HistoryPull(MASTER, TZ, Stored()).items
    assert freeze_time(reverse, date(2026, 12, 1), TZ) == datetime(2026, 12, 1, 16, tzinfo=UTC)
    assert freeze_time(monthly, date(2026, 11, 1), TZ) == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert freeze_time(monthly, date(2026, 12, 1), TZ) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert (
        history_pull(
            MasterConfig(daily_reverse=False, monthly_frozen=False, curves=False), TZ, Stored()
        )
        is None
    )
    only = history_pull(MasterConfig(daily_reverse=False, curves=False), TZ, Stored())
    assert only is not None
    assert ([item.fn for item in only.items], only.curves) == ([177], ())


async def test_reverse_days_and_months_are_stored_at_their_freeze_time(
    history_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = history_rig
    stored = Stored()
    pull, history = _pull(server, stored)
    await pull.run_pass(NOW.astimezone(UTC))

    # m1's reverse register at the end of 1 December: 2 + 0.5 + 30 x 0.125 = 6.25 kWh, split
    # 15/35/30/20 as the terminal's tariffs.
    got = [stored.value("m1", name, YESTERDAY) for name in EXPORT]
    assert got == [(6.25, Quality.ACTUAL), (0.9375, Quality.ACTUAL), (2.1875, Quality.ACTUAL),
                   (1.875, Quality.ACTUAL), (1.25, Quality.ACTUAL)]  # fmt: skip
    for point in POINTS:
        for offset in range(1, KEEPS + 1):
            day = TODAY - timedelta(days=offset)
            truth = concentrator.store.frozen_reverse(point, day)
            assert truth is not None
            values = [stored.value(f"m{point}", name, day) for name in EXPORT]
            assert [value for value, _ in values] == list(truth)
            quality = Quality.ACTUAL if day == YESTERDAY else Quality.BACKFILLED
            assert {q for _, q in values} == {quality}

    # November's freeze is the register at the end of 30 November: m1 500 + 100 + 29 x 4.25.
    november = [stored.value("m1", name, date(2026, 11, 30)) for name in MONTHLY]
    assert november == [(723.25, Quality.ACTUAL), (108.4875, Quality.ACTUAL),
                        (253.1375, Quality.ACTUAL), (216.975, Quality.ACTUAL),
                        (144.65, Quality.ACTUAL)]  # fmt: skip
    october = [stored.value("m2", name, date(2026, 10, 31)) for name in MONTHLY]
    truth = concentrator.store.monthly(2, date(2026, 10, 1))
    assert truth is not None
    assert october == [(value, Quality.BACKFILLED) for value in truth]
    # The days kept, three months, yesterday's three curves.
    assert history.stats.stored == len(POINTS) * (KEEPS + 3 + 3)
    requests = history.stats.requests

    await pull.run_pass(NOW.astimezone(UTC))  # everything is stored: nothing asked again
    assert history.stats.requests == requests


async def test_a_reverse_day_the_terminal_had_no_record_of_comes_later_as_backfilled(
    history_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, concentrator = history_rig
    stored = Stored()
    pull, history = _pull(server, stored)
    concentrator.store.missing.add(YESTERDAY)  # its carrier read of the night failed
    await pull.run_pass(NOW.astimezone(UTC))
    assert not [r for r in stored.readings if r.timestamp == freeze_time(
        history.items[0], YESTERDAY, TZ
    )]  # fmt: skip
    assert history.stats.denied == 1  # no point had a record of that day
    concentrator.store.missing.clear()
    await pull.run_pass(NOW.astimezone(UTC))
    value, quality = stored.value("m2", "energy_active_export_total", YESTERDAY)
    assert value == _export("m2", YESTERDAY)
    assert quality is Quality.BACKFILLED


async def test_a_period_the_writer_dropped_is_asked_for_again(
    history_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, _ = history_rig
    stored = Stored()
    stored.accept = False  # storage refuses the first pass
    pull, history = _pull(server, stored)
    await pull.run_pass(NOW.astimezone(UTC))
    assert history.stats.stored == 0
    stored.accept = True
    await pull.run_pass(NOW.astimezone(UTC))
    assert history.stats.stored == len(POINTS) * (KEEPS + 3 + 3)
    value, quality = stored.value("m1", "energy_active_export_total", YESTERDAY)
    assert (value, quality) == (6.25, Quality.BACKFILLED)  # no longer its first request


async def test_yesterdays_curves_are_stored_point_by_point_as_backfilled(
    history_rig: tuple[TerminalServer, SimulatedConcentrator],
) -> None:
    server, _ = history_rig
    stored = Stored()
    pull, _ = _pull(server, stored)
    await pull.run_pass(NOW.astimezone(UTC))
    voltages = sorted(
        (r.timestamp, r.value, r.quality)
        for r in stored.readings
        if r.meter == "m2" and r.quantity == "voltage_a"
    )
    # 00:30 (slot 2) to 23:45 (slot 95) of 1 December, local; 00:00 and 00:15 were not kept.
    first = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert len(voltages) == 94
    assert voltages[0] == (first, 220.2, Quality.BACKFILLED)
    assert voltages[-1] == (first + timedelta(minutes=15 * 93), 229.5, Quality.BACKFILLED)
    currents = {
        r.timestamp: r.value
        for r in stored.readings
        if r.meter == "m1" and r.quantity == "current_a"
    }
    assert currents[first + timedelta(hours=1)] == 1.006  # slot 6: 1 + 6/1000 A
    units = {r.unit for r in stored.readings if r.quantity == "power_active_total"}
    assert units == {"kW"}
