"""DL/T 645 over TCP, zero reply delay: the engine's reads/s and CPU per read, against a minimal
asyncio request/reply client polling the same fast simulated gateways in the same run.

    .venv/bin/python bench/bench_tcp_poll.py                # default, ~35 s: 50 and 500 gateways
    .venv/bin/python bench/bench_tcp_poll.py --full         # ~4 min (or BENCH_FULL=1)
    .venv/bin/python bench/bench_tcp_poll.py --gateways 10 --reads 500 --rounds 2   # smoke, ~10 s

Default: 2,000 reads a round (40 meters per gateway at 50 gateways, 4 at 500), 3 rounds. Full
(the issue's gateway counts, longer slots): 10,000 reads a round, 5 rounds.

The gateways: one child process (``--serve``) listening on one port per gateway, answering each
meter's read of the voltage block (``0201FF00``: one exchange, three readings) at once with the
reply bytes a ``SimulatedMeter`` gives for it, precomputed. The project's ``TcpGateway`` paces
bytes like a UART and would be the bottleneck, so both sides poll this server instead. It
stamps every request it answers; both rates are taken from those stamps (requests / span from
the first to the last), so engine and client are timed by the same clock in the same place.

Each round runs, in this process, one after the other:
  (a) the baseline: one connection per gateway, each looping request -> whole reply (length
      known in advance) over that gateway's meters for ``--seconds``;
  (b) the engine, built from a fleet TOML written here (one channel per gateway, inter-frame
      gap 0, one plan reading the voltages once a day) with its real record writer, the
      embedded ``SqliteStore`` and anomaly ingest, on a ``WarpedClock`` (3000x) held 5 min
      of engine time before a day boundary until the engine has started and one on-demand
      read per gateway has opened its connection; released, it reaches the boundary 0.1 s
      later, every meter's read falls due within 20 ms, the workers' queues are full, and the
      engine polls as fast as it can until every meter was read once. A scheduled poller
      cannot be saturated in steady state without overruns (a slot still queued when its next
      one is due), which would count missing readings instead of reads; one slot per round
      avoids that. The round's CPU is the process CPU time (all threads: the store writes on
      its own thread) from the release until ``Engine.run`` has returned (writer flushed to
      disk) plus one anomaly sweep, divided by the reads.
Figures: ratio = engine reads/s / baseline reads/s per round; the printed value is the median
over rounds, the spread the lowest and highest round; the last line judges the worse of the two
gateway counts. After the rounds, one more engine round runs under cProfile (enabled only for
the slot, not for start-up) and its top functions by own time are printed next to the figures,
then the event-loop thread's CPU per read split by part of the head-end (``PARTS``) in the
profile's proportions, and the store thread's CPU per read beside it.
Its times are wall time of the event-loop thread: on a busy machine a ``send`` that wakes the
gateway process, or a hand-over to the store's thread, can be preempted, and shows up large.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from headend.clock import WarpedClock
from headend.config.fleet import FleetConfig, load_fleet_config
from headend.engine import Engine, EngineOptions
from protocols.dlt645 import Address, ReadRequest, catalogue, encode
from protocols.dlt645.exchange import ReadExchange
from simulators.dlt645 import SimulatedMeter, SimulatedMeterConfig, StaticSource
from storage.embedded import SqliteStore

QUANTITIES = ("voltage_a", "voltage_b", "voltage_c")
VALUES = {"voltage_a": 231.2, "voltage_b": 229.8, "voltage_c": 230.5}
SPEED = 3000.0
"""Engine clock speed: a meter's offset (up to 60 s of clock time) is then at most 20 ms."""
SLOT = datetime(2026, 3, 2, tzinfo=UTC)
"""The day boundary every round's one slot falls on (the plan reads once a day)."""
HOLD = timedelta(seconds=300)
"""Engine time from the held clock's start to the slot: 0.1 s of real time once released."""
NEVER = 30 * 86400.0
"""Clock seconds between automatic anomaly sweeps: none during a round; one is run by hand."""
GOAL_RATIO = 0.6
GOAL_CPU_US = 40.0
TOP = 15


@dataclass(frozen=True, slots=True)
class Size:
    gateways: int
    reads: int
    """Reads per round: every meter read once, ``reads / gateways`` meters per gateway."""

    @property
    def meters(self) -> int:
        return max(1, round(self.reads / self.gateways))

    @property
    def total(self) -> int:
        return self.meters * self.gateways


@dataclass(frozen=True, slots=True)
class Stamps:
    """What the gateways answered since the last look: requests, first and last stamp, CPU."""

    count: int
    first: float
    last: float
    cpu: float

    @property
    def rate(self) -> float:
        return (self.count - 1) / (self.last - self.first) if self.count > 1 else 0.0


@dataclass(frozen=True, slots=True)
class Slot:
    """One engine slot: process CPU (all threads), wall time, event-loop thread CPU."""

    cpu: float
    wall: float
    loop_cpu: float
    gc_seconds: float
    """Time spent in the cyclic garbage collector (it runs when allocations pile up: its cost
    lands in whatever function allocated last in a profile)."""


@dataclass(frozen=True, slots=True)
class Round:
    raw_rate: float
    raw_cpu_us: float
    engine_rate: float
    engine_cpu_us: float
    server_raw_us: float
    server_engine_us: float
    engine_gc_us: float
    engine_loop_us: float
    """CPU per read of the event-loop thread alone (the rest is the store's thread)."""

    @property
    def ratio(self) -> float:
        return self.engine_rate / self.raw_rate


def address_of(gateway: int, meter: int) -> str:
    return f"{gateway + 1:06d}{meter + 1:06d}"


def block_di() -> int:
    """The block identifier that carries the three voltages (what the engine's plan reads)."""
    return next(i.di for i in catalogue() if i.is_block and set(QUANTITIES) <= set(i.members))


def exchanges(size: Size) -> dict[bytes, tuple[bytes, bytes]]:
    """Per meter address: the request bytes the head-end sends and the reply a simulated
    meter gives, built with the project's codec and simulator once, before any timing."""
    di = block_di()
    now = SLOT
    table: dict[bytes, tuple[bytes, bytes]] = {}
    for gateway in range(size.gateways):
        for index in range(size.meters):
            address = address_of(gateway, index)
            config = SimulatedMeterConfig(address, StaticSource(VALUES), reply_delay=0.0)
            meter = SimulatedMeter(config)
            meter.start(now)
            request = ReadExchange(Address.parse(address), di).send()
            frame = ReadRequest(Address.parse(address), di).to_frame()
            reply = meter.handle(frame, now)
            assert reply is not None, f"simulated meter {address} did not answer {di:08X}"
            table[address.encode()] = (request, encode(reply, preamble=config.preamble))
    return table


# -- the gateways (child process) -------------------------------------------------------------


class _Gateway(asyncio.Protocol):
    """One fast gateway connection: a known request is answered at once; anything else is
    framed (skip to 0x68, length from the L byte) and answered if known, else ignored."""

    def __init__(self, replies: dict[bytes, bytes], stamps: array[float]) -> None:
        self._replies = replies
        self._stamps = stamps
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._buffer:
            reply = self._replies.get(data)
            if reply is not None:
                self._answer(reply)
                return
        self._buffer += data
        buffer = self._buffer
        while (start := buffer.find(0x68)) >= 0 and len(buffer) >= start + 10:
            end = start + 12 + buffer[start + 9]
            if len(buffer) < end:
                break
            reply = self._replies.get(bytes(buffer[start:end]))
            del buffer[:end]
            if reply is not None:
                self._answer(reply)
        if buffer.find(0x68) < 0:
            buffer.clear()

    def _answer(self, reply: bytes) -> None:
        self._stamps.append(time.perf_counter())
        assert self._transport is not None
        self._transport.write(reply)


async def serve(size: Size) -> None:
    """Listen for ``size.gateways`` gateways; print the ports; answer each ``take`` line on
    stdin with the stamps since the last one (JSON), until stdin closes."""
    replies: dict[bytes, bytes] = {}
    for request, reply in exchanges(size).values():
        replies[request] = reply
        replies[request[request.index(0x68) :]] = reply  # the same frame without wake-up bytes
    stamps: array[float] = array("d")
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda: _Gateway(replies, stamps), "127.0.0.1", 0)
        for _ in range(size.gateways)
    ]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps({"ports": ports}), flush=True)
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    cpu = time.process_time()
    while await commands.readline():
        now = time.process_time()
        report = {
            "count": len(stamps),
            "first": stamps[0] if stamps else 0.0,
            "last": stamps[-1] if stamps else 0.0,
            "cpu": now - cpu,
        }
        del stamps[:]
        cpu = now
        print(json.dumps(report), flush=True)
    for server in servers:
        server.close()


class Gateways:
    """The gateway process, seen from the bench."""

    def __init__(self, process: asyncio.subprocess.Process, ports: list[int]) -> None:
        self.process = process
        self.ports = ports

    @classmethod
    async def start(cls, size: Size) -> Gateways:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            "--gateways",
            str(size.gateways),
            "--reads",
            str(size.reads),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("gateway process exited before listening")
        ports: list[int] = json.loads(line)["ports"]
        return cls(process, ports)

    async def take(self) -> Stamps:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"take\n")
        await self.process.stdin.drain()
        report = json.loads(await self.process.stdout.readline())
        return Stamps(report["count"], report["first"], report["last"], report["cpu"])

    async def aclose(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


# -- the baseline: a minimal asyncio request/reply client ------------------------------------


class _RawClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.expected = 0
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and len(self.buffer) >= self.expected:
            self.waiter.set_result(None)
            self.waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None:
            self.waiter.set_exception(ConnectionError("gateway closed the connection"))


async def raw_block(
    ports: Sequence[int], table: dict[bytes, tuple[bytes, bytes]], seconds: float
) -> int:
    """Poll every gateway's meters round-robin, one request in flight per connection."""
    loop = asyncio.get_running_loop()
    per_gateway: list[list[tuple[bytes, int]]] = [[] for _ in ports]
    for address, (request, reply) in table.items():
        per_gateway[int(address[:6]) - 1].append((request, len(reply)))
    links = [await loop.create_connection(_RawClient, "127.0.0.1", port) for port in ports]

    async def poll(
        transport: asyncio.Transport,
        client: _RawClient,
        requests: list[tuple[bytes, int]],
        until: float,
    ) -> int:
        count = 0
        while loop.time() < until:
            for request, expected in requests:
                client.expected = expected
                client.waiter = loop.create_future()
                transport.write(request)
                await client.waiter
                if client.buffer[-1] != 0x16:
                    raise RuntimeError(f"bad reply {client.buffer.hex()}")
                client.buffer.clear()
                count += 1
        return count

    until = loop.time() + seconds
    try:
        counts = await asyncio.gather(
            *(poll(t, c, r, until) for (t, c), r in zip(links, per_gateway, strict=True))
        )
    finally:
        for transport, _ in links:
            transport.close()
    return sum(counts)


# -- the engine ------------------------------------------------------------------------------


def fleet_toml(size: Size, ports: Sequence[int], interval: str = "1d") -> str:
    """One channel (and transformer) per gateway, its meters reading the voltages."""
    lines = [
        '[site]\nname = "bench"\ntimezone = "Asia/Shanghai"\n',
        "[plans.poll]",
        "[[plans.poll.reads]]",
        f"quantities = {json.dumps(list(QUANTITIES))}",
        f'interval = "{interval}"\n',
    ]
    for gateway, port in enumerate(ports):
        lines += [
            "[[channels]]",
            f'name = "gw-{gateway + 1}"',
            f'url = "tcp://127.0.0.1:{port}"',
            'timeout = "2s"',
            'inter_frame_gap = "0s"',
            "[[transformers]]",
            f'name = "T{gateway + 1}"',
            "rated_kva = 400\n",
        ]
    for gateway in range(size.gateways):
        for index in range(size.meters):
            lines += [
                "[[meters]]",
                f'address = "{address_of(gateway, index)}"',
                f'channel = "gw-{gateway + 1}"',
                'plan = "poll"',
                f'transformer = "T{gateway + 1}"',
                f'building = "B{gateway + 1}"',
                'phase = "ABC"\n',
            ]
    return "\n".join(lines)


async def slot_read(engine: Engine, expected: int) -> None:
    """Return once every collector has ended ``expected`` reads in all. Polled every 10 ms
    over the collectors not yet done (a plain loop: cheap, and no generator frames in the
    profile); the wait ends up to 10 ms after the last read, outside the timed span."""
    pending = list(engine.collectors.values())
    share = expected // len(pending)
    while pending:
        still = []
        for collector in pending:
            stats = collector.stats
            if stats.succeeded + stats.failed < share:
                still.append(collector)
        pending = still
        if pending:
            await asyncio.sleep(0.01)


class GcTimer:
    """A ``gc.callbacks`` entry adding up how long the collections took."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


class HeldClock(WarpedClock):
    """Engine time that stands still ``HOLD`` before the slot until ``release()``, then runs
    ``SPEED`` times real time: however long start-up takes, the slot comes ``HOLD / SPEED``
    seconds after the release (collectors waiting meanwhile wake every ``HOLD / SPEED`` s)."""

    def __init__(self) -> None:
        super().__init__(SLOT - HOLD, SPEED)
        self._released_at: float | None = None

    def release(self) -> None:
        self._released_at = time.monotonic()

    def now(self) -> datetime:
        if self._released_at is None:
            return self.start
        return self.start + timedelta(seconds=(time.monotonic() - self._released_at) * SPEED)


def build_engine(config: FleetConfig, store: SqliteStore, folder: Path) -> Engine:
    clock = HeldClock()
    options = EngineOptions(
        jitter=0, maintenance=False, sweep_interval=NEVER, audit_path=folder / "audit.jsonl"
    )
    return Engine(config, store, clock=clock, options=options)


async def engine_round(
    engine: Engine,
    size: Size,
    gateways: Gateways,
    profiler: cProfile.Profile | None = None,
) -> Slot:
    """Run the engine through its one slot; what it took (see the docstring).

    Before the slot, one on-demand read per gateway opens the workers' connections (they open
    on their first job), so the slot measures polling, not connecting."""
    clock = engine.clock
    assert isinstance(clock, HeldClock)
    async with asyncio.TaskGroup() as group:
        running = group.create_task(engine.run())
        await engine.ready.wait()
        await asyncio.gather(
            *(
                engine.operations.read_now(address_of(g, 0), QUANTITIES)
                for g in range(size.gateways)
            )
        )
        await gateways.take()
        if profiler is not None:
            profiler.enable()
        collecting = GcTimer()
        gc.callbacks.append(collecting)
        cpu, wall, thread = time.process_time(), time.perf_counter(), time.thread_time()
        clock.release()
        async with asyncio.timeout(120):  # a broken engine ends the bench instead of hanging it
            await slot_read(engine, size.total)
        engine.sweeps.sweep()
        engine.stop()
        await running
        slot = Slot(
            time.process_time() - cpu,
            time.perf_counter() - wall,
            time.thread_time() - thread,
            collecting.total,
        )
        gc.callbacks.remove(collecting)
        if profiler is not None:
            profiler.disable()
    failed = sum(c.stats.failed + c.stats.overruns for c in engine.collectors.values())
    if failed:
        raise RuntimeError(f"{failed} reads failed or overran: the figures would not be reads")
    return slot


# -- the run ---------------------------------------------------------------------------------


def spread(values: Sequence[float], digits: int) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def print_profile(stats: pstats.Stats, what: str, units: int, unit: str = "read") -> None:
    """The top functions by own time, with that time per ``unit`` (``units`` of them)."""
    table = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda item: item[1][2], reverse=True)
    print(f"  top {TOP} by own time (cProfile, {what}):")
    print(f"  {'tottime s':>9} {'µs/' + unit:>10} {'cumtime s':>9} {'ncalls':>9}  function")
    for (path, line, name), (_, calls, tottime, cumtime, _) in rows[:TOP]:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}({name})" if line else name
        print(f"  {tottime:9.3f} {tottime / units * 1e6:10.1f} {cumtime:9.3f} {calls:9d}  {where}")


PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel: socket send/recv, epoll", ("<send>", "<recv>", "<poll>")),
    ("asyncio machinery", ("asyncio/", "<asyncio>", "<contextvars>")),
    ("DL/T 645 codec (protocols/)", ("protocols/",)),
    ("reader + session (drivers/)", ("headend/drivers/",)),
    ("bus worker, link, transport", ("headend/bus/", "transports/")),
    (
        "collector, schedule, health, completeness",
        (
            "collection/collector.py",
            "collection/schedule.py",
            "collection/health.py",
            "collection/completeness.py",
        ),
    ),
    ("unit gate", ("headend/units.py",)),
    (
        "store hand-off: fan-out, writer, store rows",
        ("collection/live.py", "collection/writer.py", "storage/"),
    ),
    ("anomaly ingest", ("headend/anomaly/", "collection/sweeps.py")),
)
"""Where a function's own time goes, by the path of its file (first match); a built-in's
(``~``) own time goes to its callers' parts, in proportion to the calls they made, except the
socket and poll calls, the kernel's share."""


def _part_of(path: str, name: str) -> str:
    if path == "~":
        for marker in ("send", "recv", "poll"):
            if f"'{marker}'" in name:
                return f"<{marker}>"
        if "_asyncio" in name or "_contextvars" in name:
            return "<asyncio>"
        return "~"
    return path


def parts(stats: pstats.Stats) -> dict[str, float]:
    """Own time (s) of the profiled slot by part of the head-end (see ``PARTS``)."""
    table = stats.stats  # type: ignore[attr-defined]

    def part(key: tuple[str, int, str]) -> str:
        where = _part_of(key[0], key[2])
        for label, markers in PARTS:
            if any(marker in where for marker in markers):
                return label
        return "other (bench, built-ins of other callers)"

    totals: dict[str, float] = {}
    for key, (_, _, tottime, _, callers) in table.items():
        label = part(key)
        if label.startswith("other") and key[0] == "~" and callers:
            calls = sum(c[1] for c in callers.values()) or 1
            for caller, info in callers.items():
                share = part(caller)
                totals[share] = totals.get(share, 0.0) + tottime * info[1] / calls
            continue
        totals[label] = totals.get(label, 0.0) + tottime
    return totals


def print_parts(stats: pstats.Stats, loop_us: float, store_us: float) -> None:
    """The loop thread's CPU per read split by part in the profile's proportions, and the
    store's thread beside it."""
    totals = parts(stats)
    whole = sum(totals.values())
    print(
        f"  by part (share of the profiled slot's own time; µs = share x {loop_us:.1f} µs, the "
        "event-loop thread's CPU/read in the unprofiled rounds):"
    )
    for label, seconds in sorted(totals.items(), key=lambda item: item[1], reverse=True):
        share = seconds / whole
        print(f"  {share * 100:5.1f} % {share * loop_us:6.1f} µs  {label}")
    print(f"          {store_us:6.1f} µs  the store's thread (SQLite), outside the loop thread")


async def measure(size: Size, rounds: int, seconds: float, profile: bool) -> list[Round]:
    gateways = await Gateways.start(size)
    results: list[Round] = []
    try:
        table = exchanges(size)
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            path = folder / "fleet.toml"
            path.write_text(fleet_toml(size, gateways.ports))
            config = load_fleet_config(path)
            store = await SqliteStore.open(folder / "store.sqlite")
            print(
                f"{size.gateways} gateways x {size.meters} meters: {size.total} reads a round "
                f"(voltage block, 1 exchange, 3 readings each); load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            try:
                for number in range(1, rounds + 1):
                    await gateways.take()
                    cpu = time.process_time()
                    raw_reads = await raw_block(gateways.ports, table, seconds)
                    raw_cpu = time.process_time() - cpu
                    raw = await gateways.take()
                    engine = build_engine(config, store, folder)
                    gc.collect()
                    slot = await engine_round(engine, size, gateways)
                    del engine
                    served = await gateways.take()
                    if served.count != size.total:
                        raise RuntimeError(f"gateways answered {served.count} of {size.total}")
                    result = Round(
                        raw.rate,
                        raw_cpu / raw_reads * 1e6,
                        served.rate,
                        slot.cpu / size.total * 1e6,
                        raw.cpu / raw.count * 1e6,
                        served.cpu / served.count * 1e6,
                        slot.gc_seconds / size.total * 1e6,
                        slot.loop_cpu / size.total * 1e6,
                    )
                    results.append(result)
                    print(
                        f"  round {number}: baseline {result.raw_rate:8.0f} reads/s "
                        f"{result.raw_cpu_us:5.1f} µs CPU/read | engine {result.engine_rate:7.0f}"
                        f" reads/s {result.engine_cpu_us:6.1f} µs CPU/read (gc "
                        f"{result.engine_gc_us:.0f}) | ratio "
                        f"{result.ratio:.3f} | gateway CPU/request {result.server_raw_us:.0f} / "
                        f"{result.server_engine_us:.0f} µs"
                    )
                if profile:
                    profiler = cProfile.Profile()
                    engine = build_engine(config, store, folder)
                    gc.collect()
                    slot = await engine_round(engine, size, gateways, profiler)
                    await gateways.take()
                    stats = pstats.Stats(profiler)
                    print_profile(stats, f"one engine slot of {size.total} reads", size.total)
                    loop_us = statistics.median(r.engine_loop_us for r in results)
                    print_parts(
                        stats,
                        loop_us,
                        statistics.median(r.engine_cpu_us for r in results) - loop_us,
                    )
                    print(
                        f"  (wall time of the event-loop thread: in that slot it used "
                        f"{slot.loop_cpu:.2f} s CPU in {slot.wall:.2f} s; the process "
                        f"{slot.cpu:.2f} s CPU with the store's thread)"
                    )
            finally:
                await store.aclose()
    finally:
        await gateways.aclose()
    return results


async def main(sizes: Sequence[Size], rounds: int, seconds: float, profile: bool) -> None:
    ratios: list[float] = []
    cpus: list[float] = []
    worst_ratio = float("inf")
    worst_cpu = 0.0
    for size in sizes:
        results = await measure(size, rounds, seconds, profile)
        size_ratios = [r.ratio for r in results]
        size_cpus = [r.engine_cpu_us for r in results]
        ratio = statistics.median(size_ratios)
        cpu = statistics.median(size_cpus)
        print(
            f"  {size.gateways} gateways: ratio {ratio:.3f} ({spread(size_ratios, 3)}), engine "
            f"CPU {cpu:.1f} µs/read ({spread(size_cpus, 1)}), baseline "
            f"{statistics.median(r.raw_cpu_us for r in results):.1f} µs/read"
        )
        ratios += size_ratios
        cpus += size_cpus
        worst_ratio = min(worst_ratio, ratio)
        worst_cpu = max(worst_cpu, cpu)
    verdict = "PASS" if worst_cpu <= GOAL_CPU_US else "FAIL"
    print(
        f"tcp_poll_cpu_per_read: {worst_cpu:.1f} µs ({spread(cpus, 1)}) goal <= {GOAL_CPU_US:.0f}"
        f" µs {verdict}"
    )
    verdict = "PASS" if worst_ratio >= GOAL_RATIO else "FAIL"
    print(f"tcp_poll: {worst_ratio:.3f} ({spread(ratios, 3)}) goal >= {GOAL_RATIO} {verdict}")


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    full = os.environ.get("BENCH_FULL") == "1"
    parser.add_argument("--full", action="store_true", default=full, help="the issue's size")
    parser.add_argument("--gateways", type=int, nargs="+", help="gateway counts (50 500)")
    parser.add_argument("--reads", type=int, help="reads per round (default 2000; full 10000)")
    parser.add_argument("--rounds", type=int, help="rounds per size (default 3; full 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="baseline block length")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled round")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = arguments(sys.argv[1:])
    reads = args.reads or (10_000 if args.full else 2_000)
    if args.serve:
        asyncio.run(serve(Size(args.gateways[0], reads)))
    else:
        counts = args.gateways or [50, 500]
        asyncio.run(
            main(
                [Size(count, reads) for count in counts],
                args.rounds or (5 if args.full else 3),
                args.seconds,
                not args.no_profile,
            )
        )
