"""Storage write-path benchmark: figures are ratios to a baseline measured in the same run.

Starts its own VictoriaMetrics and InfluxDB 1.6 on free loopback ports and prints points/s for
  (a) a plain aiohttp POST of pre-formatted line protocol (the baseline),
  (b) our sink from Reading objects (encoding included; warm series cache, as in steady state),
      without and with gzip,
  (c) on VictoriaMetrics, the same sink behind the durable outbox (acknowledge on disk, replay),
each as the median of per-round ratios over interleaved rounds, so a busy neighbour slows both
sides alike. Goal: (b) without gzip >= 0.8 x (a).

VictoriaMetrics ingests faster than we can encode (our encoding is the bound there); InfluxDB's
ingest is the bound on its side, where the encoding hides behind the request in flight.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headend.readings import Reading
    from storage.sink import LineSink

REPO = Path(__file__).resolve().parents[1]
POINTS = 100_000
METERS = 1000
BATCH = 5000
ROUNDS = 7


def _readings() -> list[Reading]:
    from headend.readings import Reading, ReadingKind

    start = datetime(2026, 3, 1, tzinfo=UTC)
    tags = [{"transformer": f"T{m // 100}", "building": f"B{m // 20}"} for m in range(METERS)]
    return [
        Reading(
            f"M{i % METERS:05d}",
            "energy_active_import_total",
            1000.0 + i * 0.01,
            "kWh",
            start + timedelta(minutes=15 * (i // METERS)),
            ReadingKind.ENERGY,
            tags=tags[i % METERS],
        )
        for i in range(POINTS)
    ]


async def _rate(run: Callable[[], Awaitable[None]]) -> float:
    began = time.perf_counter()
    await run()
    return POINTS / (time.perf_counter() - began)


async def bench_server(
    write_url: str,
    make_sink: Callable[[int | None], LineSink],
    readings: Sequence[Reading],
    workdir: Path | None,
) -> dict[str, list[float]]:
    """Interleaved rounds of raw POST, sink, gzip sink and (with a workdir) the outbox."""
    import aiohttp

    from storage.line_protocol import LineEncoder
    from storage.outbox import open_outbox
    from storage.retry import RetryPolicy

    lines = LineEncoder().encode_many(readings)
    bodies = ["\n".join(lines[i : i + BATCH]).encode() for i in range(0, POINTS, BATCH)]
    results: dict[str, list[float]] = {"raw": [], "sink": [], "sink_gzip": []}
    if workdir is not None:
        results.update(outbox=[], outbox_ack=[])
    async with aiohttp.ClientSession() as session:

        async def raw() -> None:
            for body in bodies:
                async with session.post(write_url, data=body) as response:
                    if response.status != 204:
                        raise RuntimeError(f"raw POST {write_url}: HTTP {response.status}")

        plain, zipped = make_sink(None), make_sink(1)
        await raw()  # warm-up: the server creates every series once
        await plain.write(readings)
        await zipped.write(readings)
        for round_number in range(ROUNDS):
            results["raw"].append(await _rate(raw))
            results["sink"].append(await _rate(lambda: plain.write(readings)))
            results["sink_gzip"].append(await _rate(lambda: zipped.write(readings)))
            if workdir is None:
                continue
            path = workdir / f"outbox{round_number}.db"
            target = make_sink(None)
            async with open_outbox(path, target, backoff=RetryPolicy(attempts=1)) as outbox:
                began = time.perf_counter()
                for start in range(0, POINTS, BATCH):
                    await outbox.write(readings[start : start + BATCH])
                acked = time.perf_counter()
                await outbox.wait_drained()
                done = time.perf_counter()
            results["outbox_ack"].append(POINTS / (acked - began))
            results["outbox"].append(POINTS / (done - began))
        await plain.aclose()
        await zipped.aclose()
    return results


LABELS = {
    "raw": "(a) raw aiohttp POST, pre-formatted lines",
    "sink": "(b) sink from Readings, no gzip",
    "sink_gzip": "(b) sink from Readings, gzip level 1",
    "outbox": "(c) outbox: acknowledge + replay, end to end",
    "outbox_ack": "(c) outbox: acknowledge rate (on disk)",
}


def report(title: str, results: dict[str, list[float]]) -> None:
    """Medians and median per-round ratios to (a)."""
    print(f"  {title}")
    for name, values in results.items():
        ratio = statistics.median(v / r for v, r in zip(values, results["raw"], strict=True))
        median = statistics.median(values)
        print(f"    {LABELS[name]:46s} {median:>10,.0f} pts/s  ratio to (a) {ratio:.2f}")
    ratio = statistics.median(v / r for v, r in zip(results["sink"], results["raw"], strict=True))
    print(f"    goal (b, no gzip) >= 0.8 x (a): {'met' if ratio >= 0.8 else 'NOT met'}")
    if "outbox" in results:
        overhead = statistics.median(
            o / s for o, s in zip(results["outbox"], results["sink"], strict=True)
        )
        print(f"    outbox end to end / direct sink: {overhead:.2f}")


def main() -> None:
    sys.path.insert(0, str(REPO))
    from storage.influx_v1 import InfluxV1Sink
    from storage.influx_v2 import InfluxV2Sink
    from tests.support.influx_servers import (
        INFLUXD_BINARY,
        VICTORIA_METRICS_BINARY,
        InfluxDB16,
        VictoriaMetrics,
        binary_available,
    )

    readings = _readings()
    print(f"bench_storage: {POINTS} points, {METERS} meters, batch {BATCH}, {ROUNDS} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if binary_available(VICTORIA_METRICS_BINARY):
            vm = VictoriaMetrics(workdir / "vm")
            (workdir / "vm").mkdir()
            vm.start()
            try:
                results = asyncio.run(
                    bench_server(
                        f"{vm.url}/api/v2/write?bucket=bench&org=bench&precision=ns",
                        lambda level: InfluxV2Sink(
                            vm.url, bucket="bench", org="bench", gzip_level=level
                        ),
                        readings,
                        workdir,
                    )
                )
            finally:
                vm.stop()
            report("VictoriaMetrics, /api/v2/write via influxdb-client (InfluxV2Sink)", results)
        else:
            print(f"  VictoriaMetrics skipped: {VICTORIA_METRICS_BINARY} not installed")
        if binary_available(INFLUXD_BINARY):
            (workdir / "influx").mkdir()
            influx = InfluxDB16(workdir / "influx")
            influx.start()
            try:
                influx.create_database("bench")
                results = asyncio.run(
                    bench_server(
                        f"{influx.url}/write?db=bench&precision=ns",
                        lambda level: InfluxV1Sink(influx.url, database="bench", gzip_level=level),
                        readings,
                        None,
                    )
                )
            finally:
                influx.stop()
            report("InfluxDB 1.6, /write (InfluxV1Sink)", results)
        else:
            print(f"  InfluxDB 1.6 skipped: {INFLUXD_BINARY} not installed")


if __name__ == "__main__":
    main()
