"""One process holding a large fleet: start-up time, memory per meter, linearity, scheduling.

Start-up: a fleet file of N DL/T 645 meters on TCP gateways of 32 meters each (10 gateways per
transformer, 4 meters per building) is loaded, the engine built (registry, layout, collectors
and their schedules) and run until ``engine.ready``. Nothing needs to answer: the gateways are
only connected when a read goes out, and the engine is stopped as soon as it is ready. Every
size runs in a fresh subprocess, so one size's heap does not flatter or burden the next; RSS is
read from /proc/self/status (VmRSS after start, VmHWM for the peak), the baseline being the
same process after its imports. Start-up is linear when the cost per meter stays flat: the last
line is the per-meter cost at the largest size over that at the smallest.

The largest size is then run once more under cProfile (in its own subprocess, so the profiler
does not slow the timed run) and its top functions printed: that is where the issue's
quadratic step shows. The smallest size runs once more under tracemalloc, printing the
allocation sites that hold the memory per meter.

Scheduling: the head-end's collectors (``ChannelCollector`` over ``headend.collection.schedule``,
one per 32 meters, the bus replaced by a worker that answers at once) fire one slot per meter,
at the offsets the schedule gives them, at 5,000 slots per real second; a bare ``loop.call_at``
loop fires the same slot times. The figure is CPU seconds per slot, collectors over bare, the
two alternated over repeated blocks. The default is as many slots as the largest fleet size.
One more block runs under cProfile and prints the collectors' top functions.

    .venv/bin/python bench/bench_startup.py                  # 1.5k/3k/6k meters (make bench)
    .venv/bin/python bench/bench_startup.py --full           # the issue's 10k/50k/100k
    .venv/bin/python bench/bench_startup.py --sizes 1000,5000 --slots 5000 --no-profile

Each start-up subprocess is given ``--timeout`` seconds (default 120); a size that does not get
ready by then is reported as such and fails the start-up goal.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the project root is one level up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SMALL_SIZES = (1_500, 3_000, 6_000)
FULL_SIZES = (10_000, 50_000, 100_000)
METERS_PER_CHANNEL = 32
CHANNELS_PER_TRANSFORMER = 10
METERS_PER_BUILDING = 4
GOAL_LINEARITY = 1.5
"""Start-up cost per meter at the largest size over that at the smallest."""
GOAL_STARTUP_S = 30.0
GOAL_RSS_BYTES = 1 << 30
GOAL_BYTES_PER_METER = 5 * 1024
GOAL_SCHEDULING = 2.0
"""CPU per slot of the collectors over a bare ``loop.call_at`` loop."""
SLOT_INTERVAL = 60.0
"""One read a minute: every meter's first slot falls within the schedule's 30 s spread."""
SLOT_RATE = 5000.0
"""Slots per real second: 100,000 meters with two reads each spread over the first minute of a
15-minute interval (what ``meter_offset`` does) come due at about 3,300 a second."""
SPREAD = 30.0
"""Clock seconds the first slots spread over (``meter_offset`` of a 1-minute read)."""
SLOT_BLOCKS = 3
TOP = 15


# -- the fleet file ------------------------------------------------------------------------------


def fleet_text(meters: int) -> str:
    """The fleet as an operator would write it: gateways, transformers, one plan, meters."""
    channels = (meters + METERS_PER_CHANNEL - 1) // METERS_PER_CHANNEL
    transformers = (channels + CHANNELS_PER_TRANSFORMER - 1) // CHANNELS_PER_TRANSFORMER
    parts = [
        '[site]\nname = "bench"\ntimezone = "Asia/Shanghai"\n',
        "[plans.residential]\ndaily_frozen = true\nbackfill_days = 3\n"
        "[[plans.residential.reads]]\n"
        'quantities = ["voltage_a", "current_a", "power_active_total"]\ninterval = "15m"\n'
        "[[plans.residential.reads]]\n"
        'quantities = ["energy_active_import_total"]\ninterval = "15m"\nlane = "billing"\n',
    ]
    for c in range(channels):
        # Gateways that are never reached: a read connects first, and none goes out here.
        host = f"10.{(c >> 16) & 255}.{(c >> 8) & 255}.{c & 255}"
        parts.append(
            f'[[channels]]\nname = "gw-{c:05d}"\nurl = "tcp://{host}:8899"\ntimeout = "2s"\n'
        )
    for t in range(transformers):
        parts.append(f'[[transformers]]\nname = "T{t:04d}"\nrated_kva = 630\n')
    for m in range(meters):
        channel = m // METERS_PER_CHANNEL
        parts.append(
            f'[[meters]]\naddress = "{m + 1:012d}"\nchannel = "gw-{channel:05d}"\n'
            f'plan = "residential"\ntransformer = "T{channel // CHANNELS_PER_TRANSFORMER:04d}"\n'
            f'building = "B{m // METERS_PER_BUILDING:06d}"\nphase = "{"ABC"[m % 3]}"\n'
        )
    return "\n".join(parts)


# -- one start-up, in its own process ------------------------------------------------------------


def _status(field: str) -> int:
    """A VmRSS/VmHWM line of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


async def _start(path: Path, store_dir: Path) -> dict[str, float]:
    from headend.config.fleet import load_fleet_config
    from headend.engine import Engine, EngineOptions
    from storage.embedded import SqliteStore

    base_rss = _status("VmRSS")
    started = time.perf_counter()
    config = load_fleet_config(path)
    loaded = time.perf_counter()
    store = await SqliteStore.open(store_dir / "store.sqlite")
    engine = Engine(
        config,
        store,
        options=EngineOptions(maintenance=False, audit_path=store_dir / "audit.jsonl"),
    )
    built = time.perf_counter()
    runner = asyncio.create_task(engine.run())
    await engine.ready.wait()
    ready = time.perf_counter()
    figures = {
        "meters": len(config.meters),
        "load_s": loaded - started,
        "engine_s": built - loaded,
        "run_s": ready - built,
        "total_s": ready - started,
        "base_rss": base_rss,
        "rss": _status("VmRSS"),
        "peak_rss": _status("VmHWM"),
    }
    runner.cancel()  # the figures are taken: shutting 100k meters down gracefully is not timed
    return figures


def run_one(path: Path, profile: bool, trace_memory: bool = False) -> None:
    # Imported before the baseline RSS: the modules are not part of the per-meter cost.
    import storage.embedded  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        if trace_memory:
            tracemalloc.start()
            figures = asyncio.run(_start(path, Path(scratch)))
            # Modules imported lazily during start-up are not a per-meter cost.
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, "<frozen importlib._bootstrap*>")]
            )
            tracemalloc.stop()
            top = snapshot.statistics("lineno")
            total = sum(stat.size for stat in top)
            meters = figures["meters"]
            print(
                f"memory held after start-up, {meters} meters: {total / meters:.0f} B/meter traced "
                f"(one-off module costs included; top {TOP} sites, bytes per meter):"
            )
            for stat in top[:TOP]:
                frame = stat.traceback[0]
                where = f"{_short_path(frame.filename)}:{frame.lineno}"
                print(f"  {stat.size / meters:8.0f}  {stat.count / meters:6.1f} objects  {where}")
        elif not profile:
            figures = asyncio.run(_start(path, Path(scratch)))
            print(json.dumps(figures), flush=True)
        else:
            profiler = cProfile.Profile()
            profiler.enable()
            figures = asyncio.run(_start(path, Path(scratch)))
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("tottime").print_stats(TOP)
            print(f"profile of start-up, {figures['meters']} meters (top {TOP} by tottime):")
            print(_trim(out.getvalue()), flush=True)
    os._exit(0)  # skip tearing down a six-figure heap object by object: nothing is measured there


def _short_path(filename: str) -> str:
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    return filename.removeprefix(root)


def _trim(report: str) -> str:
    lines = report.splitlines()
    for index, line in enumerate(lines):
        if "ncalls" in line:
            return "\n".join(lines[index - 1 :]).rstrip()
    return report.rstrip()


def child(
    size: int, scratch: Path, *, profile: bool, timeout: float, trace_memory: bool = False
) -> dict[str, Any]:
    path = scratch / f"fleet-{size}.toml"
    if not path.exists():
        path.write_text(fleet_text(size))
    command = [sys.executable, __file__, "--one", str(path)]
    if profile:
        command.append("--profile")
    if trace_memory:
        command.append("--trace-memory")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Not ready in time: what it holds so far is a lower bound of what it would need.
        held = _child_status(process.pid)
        process.kill()
        process.communicate()
        return {"timed_out": True, "total_s": timeout, "meters": size, **held}
    if process.returncode != 0:
        raise SystemExit(f"start-up of {size} meters failed:\n{stderr}")
    if profile or trace_memory:
        print(stdout.rstrip())
        return {}
    figures: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return figures


def _child_status(pid: int) -> dict[str, int]:
    held = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        for field, key in (("VmRSS", "rss"), ("VmHWM", "peak_rss")):
            if line.startswith(field + ":"):
                held[key] = int(line.split()[1]) * 1024
    return held


# -- scheduling ----------------------------------------------------------------------------------


LEAD = 1.0
"""Clock seconds between the collectors starting and the slot boundary."""


class _HeldClock:
    """Warped time held still while the collectors are filled (so no first slot is missed by
    how long that takes), then running at ``speed`` from ``LEAD`` s before a boundary."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        boundary = time.time() // SLOT_INTERVAL * SLOT_INTERVAL + SLOT_INTERVAL
        self._start = datetime.fromtimestamp(boundary - LEAD, UTC)
        self._origin: float | None = None

    def release(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> datetime:
        if self._origin is None:
            return self._start
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    async def sleep_until(self, when: datetime) -> None:
        delay = self.real_seconds((when - self.now()).total_seconds())
        if delay > 0:
            await asyncio.sleep(delay)

    def real_seconds(self, span: float) -> float:
        return span / self.speed


async def _no_read(link: Any) -> list[Any]:
    """The bus action the collector builds; the answering worker never runs it."""
    return []


class _AnsweringWorker:
    """Stands in for a bus worker: every submitted read is answered at once, with no readings."""

    def __init__(self, name: str, fired: list[int], done: asyncio.Future[None], n: int) -> None:
        self.name = name
        self._fired = fired
        self._done = done
        self._n = n
        self._answers: list[tuple[Any, asyncio.Future[list[Any]]]] = []

    def depth(self) -> int:
        return 0

    def submit(
        self, lane: Any, label: str, action: Any, *, on_done: Any = None
    ) -> asyncio.Future[list[Any]]:
        self._fired[0] += 1
        if self._fired[0] == self._n and not self._done.done():
            self._done.set_result(None)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        future.set_result([])
        if on_done is not None:
            # Answered after ``submit`` returns, as the worker does, from one step for the
            # reads submitted together (the worker's task calls back from its own step).
            if not self._answers:
                loop.call_soon(self._answer)
            self._answers.append((on_done, future))
        return future

    def _answer(self) -> None:
        answers, self._answers = self._answers, []
        for on_done, future in answers:
            on_done(future)


def _slot_fleet(slots: int) -> Any:
    from headend.config.fleet import parse_fleet_config

    channels = (slots + METERS_PER_CHANNEL - 1) // METERS_PER_CHANNEL
    return parse_fleet_config(
        {
            "plans": {"p": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
            "channels": [
                {"name": f"gw-{c:05d}", "url": f"tcp://127.0.0.1:{10000 + c}"}
                for c in range(channels)
            ],
            "meters": [
                {
                    "address": f"{m + 1:012d}",
                    "channel": f"gw-{m // METERS_PER_CHANNEL:05d}",
                    "plan": "p",
                }
                for m in range(slots)
            ],
        },
        "bench",
    )


async def collector_block(config: Any, speed: float) -> float:
    """CPU seconds until every meter's first slot was handed to its (answering) worker."""
    from headend.collection.collector import ChannelCollector
    from headend.collection.completeness import CompletenessTracker
    from headend.collection.health import MeterHealth

    clock = _HeldClock(speed)
    health = MeterHealth()
    completeness = CompletenessTracker(config.timezone)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    fired = [0]
    n = len(config.meters)

    async def stored(readings: list[Any], *, then: Any = None) -> None:
        if then is not None:
            then(True)

    def put(readings: list[Any], then: Any) -> None:
        if then is not None:
            then(True)

    async def health_changed(meter: Any, change: Any, detail: str) -> None:
        pass

    collectors = {
        name: ChannelCollector(
            worker=_AnsweringWorker(name, fired, done, n),  # type: ignore[arg-type]
            plans=dict(config.plans),
            clock=clock,
            read_factory=lambda meter, quantities, slot: _no_read,
            on_readings=stored,
            put_readings=put,  # as the engine wires them (``LiveReadings.put``)
            on_health=health_changed,
            health=health,
            completeness=completeness,
            jitter=0.0,
        )
        for name in config.channels
    }
    for meter in config.meters.values():
        collectors[meter.channel].set_meter(meter.id, meter)
    clock.release()
    cpu = time.process_time()
    async with asyncio.TaskGroup() as group:
        for collector in collectors.values():
            group.create_task(collector.run())
        await done
        spent = time.process_time() - cpu
        for collector in collectors.values():
            collector.stop()
    return spent


async def bare_block(config: Any, speed: float) -> float:
    """CPU seconds of ``loop.call_at`` firing the same slot times (same offsets, same speed)."""
    from headend.collection.schedule import meter_offset

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    n = len(config.meters)
    fired = [0]
    lead = LEAD / speed  # as the collectors' clock: released LEAD clock s before the slot
    base = loop.time()

    def fire() -> None:
        fired[0] += 1
        if fired[0] == n:
            done.set_result(None)

    cpu = time.process_time()
    for meter_id in config.meters:
        offset = meter_offset(meter_id, SLOT_INTERVAL)
        loop.call_at(base + lead + offset / speed, fire)
    await done
    return time.process_time() - cpu


def scheduling(slots: int) -> tuple[float, float, list[float]]:
    config = _slot_fleet(slots)
    speed = SPREAD * SLOT_RATE / slots
    collector, bare = [], []
    for _ in range(SLOT_BLOCKS):
        bare.append(asyncio.run(bare_block(config, speed)))
        collector.append(asyncio.run(collector_block(config, speed)))
    ratios = [c / b for c, b in zip(collector, bare, strict=True)]
    return sum(collector) / len(collector) / slots, sum(bare) / len(bare) / slots, ratios


def profile_scheduling(slots: int) -> None:
    config = _slot_fleet(slots)
    speed = SPREAD * SLOT_RATE / slots
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(collector_block(config, speed))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(TOP)
    print(f"profile of the collectors firing {slots} slots (top {TOP} by tottime):")
    print(_trim(out.getvalue()))


# -- the report ----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's 10k/50k/100k meters")
    parser.add_argument("--sizes", help="comma-separated meter counts (overrides --full)")
    parser.add_argument("--slots", type=int, help="slots for the scheduling figure")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per start-up")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        run_one(args.one, args.profile, args.trace_memory)
        return
    sizes: tuple[int, ...] = FULL_SIZES if args.full else SMALL_SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    slots = args.slots or max(sizes)

    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        print(
            f"start-up: {METERS_PER_CHANNEL} meters per TCP gateway, each size in a fresh process"
        )
        print(
            f"{'meters':>8} {'load s':>8} {'engine s':>9} {'run s':>7} {'total s':>8} "
            f"{'us/meter':>9} {'RSS MiB':>8} {'peak MiB':>9} {'B/meter':>8}"
        )
        for size in sizes:
            figures = results[size] = child(
                size, Path(scratch), profile=False, timeout=args.timeout
            )
            if figures.get("timed_out"):
                print(
                    f"{size:>8} not ready within {args.timeout:.0f} s (RSS then "
                    f"{figures['rss'] / 2**20:.1f} MiB, peak {figures['peak_rss'] / 2**20:.1f} MiB)"
                )
                continue
            per_meter = (figures["rss"] - figures["base_rss"]) / size
            figures["bytes_per_meter"] = per_meter
            print(
                f"{size:>8} {figures['load_s']:8.2f} {figures['engine_s']:9.2f} "
                f"{figures['run_s']:7.2f} {figures['total_s']:8.2f} "
                f"{figures['total_s'] / size * 1e6:9.1f} {figures['rss'] / 2**20:8.1f} "
                f"{figures['peak_rss'] / 2**20:9.1f} {per_meter:8.0f}"
            )
        if not args.no_profile:
            profiled = (
                max(size for size in sizes if size <= max(SMALL_SIZES))
                if (any(size <= max(SMALL_SIZES) for size in sizes))
                else min(sizes)
            )
            child(profiled, Path(scratch), profile=True, timeout=args.timeout * 3)
            child(
                min(sizes),
                Path(scratch),
                profile=False,
                trace_memory=True,
                timeout=args.timeout * 3,
            )

    collector_cpu, bare_cpu, ratios = scheduling(slots)
    print(
        f"scheduling, {slots} slots over {slots / SLOT_RATE:.1f} s: collectors "
        f"{collector_cpu * 1e6:.1f} us CPU/slot, bare loop.call_at {bare_cpu * 1e6:.1f} us CPU/slot"
    )
    if not args.no_profile:
        profile_scheduling(min(slots, max(SMALL_SIZES)))

    late = sorted(size for size, f in results.items() if f.get("timed_out"))
    if late:
        print(
            f"not ready within {args.timeout:.0f} s: {', '.join(map(str, late))} meters; their "
            f"start-up counts as {args.timeout:.0f} s, so the figures below are lower bounds"
        )
    largest = max(sizes)
    slowest = max(f["total_s"] for f in results.values())
    peak = max(f["peak_rss"] for f in results.values())
    per_meter_bytes = results[largest].get("bytes_per_meter", float("inf"))
    print(
        f"startup_seconds_{largest}: {slowest:.2f} goal < {GOAL_STARTUP_S:.0f} "
        f"{verdict(slowest < GOAL_STARTUP_S and not late)}"
    )
    print(
        f"startup_peak_rss_mib: {peak / 2**20:.1f} goal < {GOAL_RSS_BYTES / 2**20:.0f} "
        f"{verdict(peak < GOAL_RSS_BYTES and not late)}"
    )
    print(
        f"startup_bytes_per_meter: {per_meter_bytes:.0f} goal <= {GOAL_BYTES_PER_METER} "
        f"{verdict(per_meter_bytes <= GOAL_BYTES_PER_METER)}"
    )
    ratio = sum(ratios) / len(ratios)
    print(
        f"scheduling_per_slot: {ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
        f"goal <= {GOAL_SCHEDULING} {verdict(ratio <= GOAL_SCHEDULING)}"
    )
    costs = {size: f["total_s"] / size for size, f in results.items()}
    smallest = min(sizes)
    linearity = costs[largest] / costs[smallest]
    # Spread: the per-meter cost of every larger size over the smallest's.
    steps = [costs[size] / costs[smallest] for size in sizes if size != smallest] or [linearity]
    ok = linearity <= GOAL_LINEARITY and smallest not in late
    print(
        f"startup_linearity: {linearity:.2f} ({min(steps):.2f}-{max(steps):.2f}) "
        f"goal <= {GOAL_LINEARITY} {verdict(ok)}"
    )


if __name__ == "__main__":
    main()
