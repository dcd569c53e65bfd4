"""Storage write-path benchmark: figures are ratios to a baseline measured in the same run.

Starts its own VictoriaMetrics and InfluxDB 1.6 on free loopback ports and, in interleaved rounds
(so a busy neighbour slows every variant alike), measures points/s for:

  (a) the baseline: a plain aiohttp POST of pre-formatted line protocol, one request at a time;
  (b) our InfluxDB write path: the sink posting pre-formatted lines, one 5000-line chunk per
      call as the outbox hands them over (influxdb-client's async WriteService for v2, with our
      retries and error mapping). Goal: >= 0.8 x (a);
  (c) the sink fed `Reading` objects directly, so formatting is inline (gzip off and on);
  (d) the outbox: replay of a backlog from disk (as after an outage), acknowledge rate (format,
      commit, fsync), and end to end (acknowledge while replaying), whose ratio to (c) is the
      outbox overhead.

Each figure is the median of per-round ratios; each variant starts with the server idle.
Client and server CPU per point are printed too, because here both processes share two cores:
a ratio below 1 is CPU the server did not get, and the CPU columns show whose.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.outbox import Outbox
    from storage.records import Reading
    from storage.sink import LineSink

REPO = Path(__file__).resolve().parents[1]
POINTS = 100_000
METERS = 1000
BATCH = 5000
ROUNDS = 7
GOAL = 0.8


def _readings() -> list[Reading]:
    from storage.records import Reading, ReadingKind

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


@dataclass(frozen=True)
class Sample:
    """One timed run: throughput and CPU seconds per point on each side."""

    points_per_s: float
    client_cpu_us: float
    server_cpu_us: float


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(run: Callable[[], Awaitable[None]], server_pid: int) -> Sample:
    server_before = _cpu_seconds(server_pid)
    client_before = time.process_time()
    began = time.perf_counter()
    await run()
    elapsed = time.perf_counter() - began
    client = time.process_time() - client_before
    server = _cpu_seconds(server_pid) - server_before
    return Sample(POINTS / elapsed, client / POINTS * 1e6, server / POINTS * 1e6)


async def _settle(server_pid: int, *, quiet_s: float = 1.5, limit_s: float = 10.0) -> None:
    """Wait (bounded) until the server has been idle for ``quiet_s``.

    VictoriaMetrics flushes and merges what it ingested in a burst up to about a second after
    a write; without this, that burst lands on whichever variant runs next.
    """
    slice_s = 0.1
    give_up = time.monotonic() + limit_s
    quiet_since = time.monotonic()
    while time.monotonic() < give_up:
        before = _cpu_seconds(server_pid)
        await asyncio.sleep(slice_s)  # sampling the server's CPU, slice by slice
        if _cpu_seconds(server_pid) - before > 0.02 * slice_s:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return


async def _filled_outbox(path: Path, target: LineSink, readings: Sequence[Reading]) -> Outbox:
    """An outbox holding every reading, as after an outage; its replay is not running."""
    from storage.outbox import Outbox
    from storage.retry import RetryPolicy

    outbox = await Outbox.open(path, target, backoff=RetryPolicy(attempts=1))
    await _write_in_batches(outbox, readings)
    return outbox


async def _write_in_batches(outbox: Outbox, readings: Sequence[Reading]) -> None:
    """Hand the readings over ``BATCH`` at a time, as the engine's writer does."""
    for start in range(0, POINTS, BATCH):
        await outbox.write(readings[start : start + BATCH])


async def _acknowledge_then_drain(
    outbox: Outbox, readings: Sequence[Reading], acknowledged: list[float]
) -> None:
    """Write every reading through a running outbox, note the acknowledge rate, wait for replay."""
    began = time.perf_counter()
    await _write_in_batches(outbox, readings)
    acknowledged.append(POINTS / (time.perf_counter() - began))
    await outbox.wait_drained()


async def bench_server(
    write_url: str,
    make_sink: Callable[[int | None], LineSink],
    readings: Sequence[Reading],
    workdir: Path,
    server_pid: int,
) -> dict[str, list[Sample]]:
    """Interleaved rounds of every variant against one server."""
    import aiohttp

    from storage.line_protocol import LineEncoder
    from storage.outbox import open_outbox
    from storage.retry import RetryPolicy

    lines = LineEncoder().encode_many(readings)
    bodies = ["\n".join(lines[i : i + BATCH]).encode() for i in range(0, POINTS, BATCH)]
    results: dict[str, list[Sample]] = {name: [] for name in LABELS}
    async with aiohttp.ClientSession() as session:

        async def raw() -> None:
            for body in bodies:
                async with session.post(write_url, data=body) as response:
                    if response.status != 204:
                        raise RuntimeError(f"raw POST {write_url}: HTTP {response.status}")

        async def measure(run: Callable[[], Awaitable[None]]) -> Sample:
            return await _measure(run, server_pid)

        plain, zipped = make_sink(None), make_sink(1)
        await raw()  # warm-up: the server creates every series once
        await plain.write(readings)
        await zipped.write(readings)
        first_line = bodies[0][: bodies[0].index(b"\n")]

        async def replay(round_number: int) -> None:
            # A fresh sink, warmed by one line so that its connection exists, as in a service.
            target = make_sink(None)
            await target.write_lines([first_line])
            outbox = await _filled_outbox(workdir / f"replay{round_number}.db", target, readings)
            async with asyncio.TaskGroup() as group:
                group.create_task(outbox.run())
                results["replay"].append(await measure(outbox.wait_drained))
                await outbox.aclose()

        async def through_outbox(round_number: int) -> None:
            target = make_sink(None)
            await target.write_lines([first_line])
            path = workdir / f"outbox{round_number}.db"
            acknowledged: list[float] = []
            async with open_outbox(path, target, backoff=RetryPolicy(attempts=1)) as live:
                end_to_end = await measure(
                    partial(_acknowledge_then_drain, live, readings, acknowledged)
                )
            results["outbox"].append(end_to_end)
            results["outbox_ack"].append(Sample(acknowledged[0], 0.0, 0.0))

        async def into(name: str, run: Callable[[], Awaitable[None]]) -> None:
            results[name].append(await measure(run))

        async def lines_as_the_outbox_hands_them() -> None:
            for body in bodies:
                await plain.write_lines([body])

        variants: list[Callable[[int], Awaitable[None]]] = [
            lambda _: into("raw", raw),
            lambda _: into("lines", lines_as_the_outbox_hands_them),
            replay,
            lambda _: into("sink", partial(plain.write, readings)),
            lambda _: into("sink_gzip", partial(zipped.write, readings)),
            through_outbox,
        ]
        for round_number in range(ROUNDS):
            # Rotated, so that the server's background work after a heavy variant (merging what
            # it ingested) does not always land on the same next one.
            shift = round_number % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                await _settle(server_pid)
                await variant(round_number)
        await plain.aclose()
        await zipped.aclose()
    return results


LABELS = {
    "raw": "(a) plain POST of pre-formatted lines",
    "lines": "(b) write path: our sink, pre-formatted lines",
    "sink": "(c) sink fed Readings, formatting inline",
    "sink_gzip": "(c) the same with gzip level 1",
    "replay": "(d) outbox replay of a backlog, from disk",
    "outbox_ack": "(d) outbox acknowledge (format + fsync)",
    "outbox": "(d) outbox acknowledge + replay, end to end",
}
NO_CPU_FIGURES = {"outbox_ack"}


def _ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    return statistics.median(v / b for v, b in zip(values, baseline, strict=True))


def report(title: str, results: dict[str, list[Sample]]) -> list[float]:
    """Medians of throughput and CPU, and median per-round ratios to (a); returns the per-round
    ratios of (b) to (a), for the goal line."""
    raw = [sample.points_per_s for sample in results["raw"]]
    print(f"  {title}")
    print(f"    {'':46s} {'pts/s':>10s}  {'ratio':>5s}  client / server CPU per point")
    for name, samples in results.items():
        if not samples:
            continue
        rates = [sample.points_per_s for sample in samples]
        cpu = (
            ""
            if name in NO_CPU_FIGURES
            else f"  {statistics.median(s.client_cpu_us for s in samples):5.2f} us / "
            f"{statistics.median(s.server_cpu_us for s in samples):5.2f} us"
        )
        print(
            f"    {LABELS[name]:46s} {statistics.median(rates):>10,.0f}  "
            f"{_ratio(rates, raw):5.2f}{cpu}"
        )
    if results["lines"]:
        ratio = _ratio([s.points_per_s for s in results["lines"]], raw)
        verdict = "met" if ratio >= GOAL else "NOT met"
        print(f"    goal (b) >= {GOAL} x (a): {verdict} ({ratio:.2f})")
    if results["outbox"]:
        overhead = _ratio(
            [s.points_per_s for s in results["outbox"]], [s.points_per_s for s in results["sink"]]
        )
        print(f"    outbox overhead, (d) end to end / (c) sink: {overhead:.2f}")
    return [
        line.points_per_s / plain.points_per_s
        for line, plain in zip(results["lines"], results["raw"], strict=True)
    ]


def goal_line(per_server: list[list[float]]) -> str:
    """The standard last line: the worst server's median ratio of (b) to (a), and the lowest
    and highest round over all servers."""
    if not per_server:
        return f"storage_write_path: no server installed goal >= {GOAL} FAIL"
    ratio = min(statistics.median(rounds) for rounds in per_server)
    low = min(min(rounds) for rounds in per_server)
    high = max(max(rounds) for rounds in per_server)
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    return f"storage_write_path: {ratio:.2f} ({low:.2f}-{high:.2f}) goal >= {GOAL} {verdict}"


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
    ratios: list[list[float]] = []
    print(f"bench_storage: {POINTS} points, {METERS} meters, batch {BATCH}, {ROUNDS} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if binary_available(VICTORIA_METRICS_BINARY):
            (workdir / "vm").mkdir()
            vm = VictoriaMetrics(workdir / "vm")
            vm.start()
            try:
                results = asyncio.run(
                    bench_server(
                        f"{vm.url}/api/v2/write?bucket=bench&org=bench&precision=ns",
                        lambda level: InfluxV2Sink(
                            vm.url, bucket="bench", org="bench", gzip_level=level
                        ),
                        readings,
                        workdir / "vm",
                        vm.pid,
                    )
                )
            finally:
                vm.stop()
            ratios.append(
                report("VictoriaMetrics, /api/v2/write via influxdb-client (InfluxV2Sink)", results)
            )
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
                        workdir / "influx",
                        influx.pid,
                    )
                )
            finally:
                influx.stop()
            ratios.append(report("InfluxDB 1.6, /write (InfluxV1Sink)", results))
        else:
            print(f"  InfluxDB 1.6 skipped: {INFLUXD_BINARY} not installed")
    print(goal_line(ratios))


if __name__ == "__main__":
    main()
