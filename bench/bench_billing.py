"""A billing page at the cap, streamed from the embedded store: time, memory, event-loop stalls.

Run: ``.venv/bin/python bench/bench_billing.py``. The fleet is 320 meters x 31 days at
15-minute intervals (9,920 meter-days, just under ``MAX_METER_DAYS``; about a million interval
rows). A ticker task sleeping 5 ms measures how long the event loop was kept from it while the
answer streamed; the idle figure of the same ticker is printed first as the baseline.

The answer streams under the garbage collector's set-up of a head-end that serves
(``headend.gc_tuning.tuned_for_collection``, which ``Engine.run`` holds while the API runs):
with Python's defaults, each gen-2 collection of the stream's garbage held the GIL for
100-230 ms (measured with ``gc.callbacks``), which were the longest stalls here, and a
head-end never streams under those defaults.
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from headend.api.billing_stream import BillingPage, csv_chunks, json_chunks
from headend.gc_tuning import tuned_for_collection
from storage.billing_csv import MeterLabels
from storage.embedded import SqliteStore
from storage.records import Reading, ReadingKind

METERS = 320
DAYS = 31
QUANTITY = "energy_active_import_total"
TICK = 0.005
GOAL_LOOP_SHARE = 0.5
"""While a page at the cap streams, the event loop (collection, other requests) still serves at
least half the ticks it serves when idle."""


async def fill(store: SqliteStore, meters: list[str]) -> None:
    first = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 2026-03-01 00:00 in Shanghai
    tags = {"transformer": "T1"}
    for meter in meters:
        batch = [
            Reading(
                meter,
                QUANTITY,
                1000 + k * 0.25,
                "kWh",
                first + timedelta(minutes=15 * k),
                ReadingKind.ENERGY,
                tags=tags,
            )
            for k in range(DAYS * 96)
        ]
        batch += [
            Reading(
                meter,
                QUANTITY,
                1000 + d * 24.0,
                "kWh",
                first + timedelta(days=d),
                ReadingKind.FROZEN,
            )
            for d in range(DAYS)
        ]
        await store.write(batch)


async def stalls_while(work: Callable[[], Awaitable[None]]) -> list[float]:
    """How late each 5 ms tick woke up while ``work`` ran."""
    late: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            late.append(now - last - TICK)
            last = now

    tick = asyncio.create_task(ticker())
    await work()
    done = True
    await tick
    return late


def summary(late: list[float]) -> str:
    ordered = sorted(late)
    p99 = ordered[int(len(ordered) * 0.99)]
    return f"loop stall max {ordered[-1] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "store.sqlite")
        meters = [f"m{index:04d}" for index in range(METERS)]
        await fill(store, meters)
        page = BillingPage(
            source=store,
            meters=meters,
            quantities=(QUANTITY,),
            start=date(2026, 3, 1),
            end=date(2026, 3, 31),
            tz=ZoneInfo("Asia/Shanghai"),
            labels={meter: MeterLabels("000000000001", "flat", "B1", "T1") for meter in meters},
            next_cursor=None,
        )

        async def idle() -> None:
            await asyncio.sleep(3)

        started = time.perf_counter()
        idle_late = await stalls_while(idle)
        idle_rate = len(idle_late) / (time.perf_counter() - started)
        print(f"idle: {summary(idle_late)}")
        shares: list[float] = []
        for name, chunks in (("json", json_chunks), ("csv", csv_chunks)):
            size = 0

            async def stream(chunks: Callable[[BillingPage], AsyncIterator[str]] = chunks) -> None:
                nonlocal size
                async for piece in chunks(page):
                    size += len(piece)

            started = time.perf_counter()
            with tuned_for_collection():  # as while the head-end serves
                late = await stalls_while(stream)
            elapsed = time.perf_counter() - started
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            shares.append(len(late) / elapsed / idle_rate)
            print(
                f"{name}: {METERS * DAYS} meter-days, {size / 1e6:.0f} MB in {elapsed:.1f} s, "
                f"{summary(late)}, max RSS {rss:.0f} MB, loop ticks {shares[-1]:.2f} of idle"
            )
        await store.aclose()
    share = min(shares)
    verdict = "PASS" if share >= GOAL_LOOP_SHARE else "FAIL"
    print(
        f"billing_stream_loop_share: {share:.2f} ({min(shares):.2f}-{max(shares):.2f}) "
        f"goal >= {GOAL_LOOP_SHARE} {verdict}"
    )


if __name__ == "__main__":
    asyncio.run(main())
