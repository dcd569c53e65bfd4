"""The engine as a master station: a concentrator dials in, its frozen days reach billing."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from storage.billing import daily_values
from storage.embedded import SqliteStore
from storage.records import Quality
from tests.support.concentrator_fleet import (
    KEEPS,
    NOW,
    POINTS,
    TODAY,
    TZ,
    concentrator_fleet,
    frozen_total,
)

QUANTITIES = ("energy_active_import_total", "energy_active_import_t2")


async def test_a_concentrators_frozen_days_are_stored_for_billing(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(concentrator_fleet(), "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl", writer_interval=0.05),
    )
    frozen = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS],
        frozen_total,
        lambda: TODAY,
        keeps_days=KEEPS,
    )
    missing = TODAY - timedelta(days=2)
    frozen.missing.add(missing)
    concentrator = SimulatedConcentrator(
        Address("4403", 12), frozen, lambda: NOW.replace(tzinfo=None), units_per_frame=2
    )
    live = engine.live.subscribe()
    server, pull = engine.terminal_server, engine.frozen_pull
    assert server is not None
    assert pull is not None
    expected = len(POINTS) * 5 * (KEEPS - 1)  # 5 registers, every kept day but the missing one
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        async with asyncio.timeout(30):
            await server.listening.wait()
            dialler = group.create_task(concentrator.run("127.0.0.1", server.port))
            seen = [await live.get() for _ in range(expected)]
            frozen.missing.clear()  # the concentrator re-reads its meters: the hole is filled
            await pull.run_pass(engine.clock.now())
            seen += [await live.get() for _ in range(len(POINTS) * 5)]
        engine.stop()
        await runner
        dialler.cancel()
    rows = await daily_values(
        store, [f"m{p}" for p in POINTS], QUANTITIES, TODAY - timedelta(days=KEEPS - 1), TODAY, TZ
    )
    await store.aclose()
    assert len(seen) == len(POINTS) * 5 * KEEPS
    by_key = {(r.meter, r.day, r.quantity): r for r in rows}
    for point in POINTS:
        for offset in range(1, KEEPS + 1):
            day = TODAY - timedelta(days=offset)
            truth = frozen.frozen(point, day)
            assert truth is not None
            billing_day = day + timedelta(days=1)  # frozen at the end of ``day``
            total = by_key[(f"m{point}", billing_day, QUANTITIES[0])]
            peak = by_key[(f"m{point}", billing_day, QUANTITIES[1])]
            assert (total.value, peak.value) == (truth[0], truth[2])
            first = Quality.ACTUAL if offset == 1 else Quality.BACKFILLED
            assert total.quality is first
    summary = pull.completeness(TODAY)["jzq-T1"]
    assert (summary.first_attempt, summary.backfilled, summary.missing) == (3, 9, 0)
