"""The engine as a master station: a concentrator dials in, its frozen days reach billing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from storage.billing import daily_values
from storage.embedded import SqliteStore
from storage.records import Quality

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 0, 30, tzinfo=TZ)
TODAY = NOW.date()
KEEPS = 4
POINTS = (1, 2, 3)
QUANTITIES = ("energy_active_import_total", "energy_active_import_t2")


def _total(meter_id: str, day: date) -> float:
    return 800.0 + int(meter_id[1:]) * 50.0 + (day - date(2026, 11, 1)).days * 5.5


def _fleet() -> dict[str, object]:
    return {
        "site": {"name": "test", "timezone": "Asia/Shanghai"},
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "master": {"host": "127.0.0.1", "port": 0, "reply_timeout": "5s", "retries": 1},
        "terminals": [
            {
                "name": "jzq-T1",
                "address": "4403-00012",
                "heartbeat": "60s",
                "transformer": "T1",
                "keeps_days": KEEPS,
                "meters": [{"id": f"m{p}", "pn": p, "address": f"{p:012d}"} for p in POINTS],
            }
        ],
    }


async def test_a_concentrators_frozen_days_are_stored_for_billing(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(_fleet(), "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl", writer_interval=0.05),
    )
    frozen = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS],
        _total,
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
