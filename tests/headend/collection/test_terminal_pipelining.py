"""``[master] window``: up to that many F161 requests in flight per terminal, results unchanged.

A real ``TerminalServer`` and ``SimulatedConcentrator`` over loopback TCP; the simulator takes
``reply_delay`` to answer, so requests the master pipelines are seen waiting side by side
(``max_in_flight``), and every stored value is compared with the simulator's store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headend.collection.terminal_pull import POINTS_PER_REQUEST, FrozenPull
from headend.config.errors import ConfigError
from headend.config.terminals import (
    ConcentratorConfig,
    MasterConfig,
    MasterTable,
    TerminalMeterConfig,
    master_config,
)
from headend.terminals import TerminalServer
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from storage.records import Reading
from tests.support.frozen_writer import Stored

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 0, 20, tzinfo=TZ)
KEY = "4403-00012"
METERS = 4 * POINTS_PER_REQUEST  # four requests a day
KEEPS = 2


def _total(meter_id: str, day: date) -> float:
    return 100.0 + int(meter_id[1:]) * 3.5 + (day - date(2026, 11, 1)).days


TERMINAL = ConcentratorConfig(
    name="jzq-T1",
    address=KEY,
    heartbeat=60.0,
    transformer="T1",
    keeps_days=KEEPS,
    meters=tuple(TerminalMeterConfig(f"m{p}", "jzq-T1", p) for p in range(1, METERS + 1)),
)


async def _pull_with(window: int) -> tuple[SimulatedConcentrator, list[Reading]]:
    store = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in range(1, METERS + 1)],
        _total,
        lambda: TODAY,
        keeps_days=KEEPS,
    )
    concentrator = SimulatedConcentrator(
        Address("4403", 12), store, lambda: NOW.replace(tzinfo=None), reply_delay=0.05
    )
    stored = Stored()
    async with (
        TerminalServer(heartbeat_periods={KEY: 60.0}, window=window) as server,
        asyncio.TaskGroup() as group,
    ):
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        async with asyncio.timeout(10):
            await server.wait_online(KEY)
        master = MasterConfig(reply_timeout=5.0, retries=0, window=window)
        pull = FrozenPull(server, {TERMINAL.name: TERMINAL}, master, TZ, stored)
        async with asyncio.timeout(30):
            await pull.run_pass(NOW.astimezone(UTC))
        assert pull.stats.failures == 0
        task.cancel()
    return concentrator, stored.readings


def _assert_equal_to_the_store(
    concentrator: SimulatedConcentrator, readings: list[Reading]
) -> None:
    totals = {
        (r.meter, r.timestamp): r.value
        for r in readings
        if r.quantity == "energy_active_import_total"
    }
    assert len(totals) == METERS * KEEPS
    for point in range(1, METERS + 1):
        for offset in range(1, KEEPS + 1):
            day = TODAY - timedelta(days=offset)
            truth = concentrator.store.frozen(point, day)
            assert truth is not None
            at = datetime.combine(day + timedelta(days=1), datetime.min.time(), TZ)
            assert totals[(f"m{point}", at)] == truth[0]


async def test_with_window_4_four_requests_wait_at_the_terminal_at_once() -> None:
    concentrator, readings = await _pull_with(4)
    assert concentrator.max_in_flight == 4
    _assert_equal_to_the_store(concentrator, readings)


async def test_with_the_default_window_one_request_is_in_flight() -> None:
    concentrator, readings = await _pull_with(1)
    assert concentrator.max_in_flight == 1
    _assert_equal_to_the_store(concentrator, readings)


@pytest.mark.parametrize("window", [0, 17])
def test_a_window_outside_1_to_16_is_refused_naming_the_key(window: int) -> None:
    with pytest.raises((ConfigError, ValueError), match="window"):
        master_config(MasterTable.model_validate({"window": window}))


def test_the_window_defaults_to_one() -> None:
    assert master_config(MasterTable.model_validate({})).window == 1
