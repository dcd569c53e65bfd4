"""Q/GDW 1376.1 master station: memory per terminal session, CPU per frame against a bare
asyncio echo of the same bytes, and the time to pull one day's frozen values of every meter.

    .venv/bin/python bench/bench_terminals.py            # --small, ~30 s: 100 x 256 meters
    .venv/bin/python bench/bench_terminals.py --full     # issue 15: 1,000 x 256 (or BENCH_FULL=1)
    .venv/bin/python bench/bench_terminals.py --terminals 20 --rounds 2   # smoke

Three processes over real loopback TCP. This one is the master station: the real
``TerminalServer`` and the real daily pull (``FrozenPull``, AFN 0D F161, 64 points a request,
sequential over the terminals as in ``headend run``). One child (``--serve sims``) runs the real
concentrator simulator, one full ``SimulatedConcentrator`` per terminal (login, heartbeat,
answers from its ``FrozenStore``), all in one asyncio loop: 1,000 of them dial in and log in
within 3 s here, so no cut-down session part is needed. The other (``--serve echo``) is the
baseline's client side.

Figures:
  * RSS per session: this process's resident set after every terminal has logged in, minus
    before the server started, divided by the terminals (after ``gc.collect()``).
  * CPU per frame (master side): the process CPU of one pull round over every terminal
    divided by the reply frames the master received (each 64-point request is answered in 8
    frames of 8 units; the request frames it sends are part of that cost). The baseline, in
    the same run: a bare ``asyncio.Protocol`` echo server in this process that one child
    connection per terminal sends the very bytes of one terminal's day (the simulator's own
    reply frames, request by request, waiting for each echo; one terminal after the other, as
    the pull goes; ``ECHO_REPEAT`` times a round): its CPU divided by the frames it echoed.
    Ratio = pull CPU/frame / echo CPU/frame, per round; printed as the median over rounds
    with the lowest and highest. The pull's CPU includes building the readings (40 a frame)
    and the request frames; the store is not in it (``emit`` keeps the readings).
  * Pull time of one day for every meter, and meters/s, per round (each round asks for the
    next day: ``keeps_days`` 1, the pull's ``today`` moved one day on). Every value stored
    is checked against the simulator's ground truth (``tariff_split`` of the same total).
After the rounds one more pull round runs under cProfile; its top functions are printed.

Goals (set from what the station must do, not from this machine's figures):
  * memory per session <= 64 KiB: 10,000 terminals (a city) then hold 640 MiB, a third of a
    2 GiB head-end VM, beside the store and the API.
  * CPU per frame <= 20 x the echo: a reply frame carries 8 meters x 5 registers, 40 values
    to decode (A.14 BCD) and 40 readings to build; in CPython a value costs a few µs, the
    echo's whole frame (read + write syscalls) about 10-20 µs, so more than 20 x means
    per-frame overhead beyond the values themselves.
  * pull >= 427 meters/s: the full fleet's day (256,000 meters) in 10 minutes, so a pull
    that starts at ``pull_delay`` leaves most of the hour's ``pull_interval`` for re-reads.
The last line judges the frame CPU ratio (the worse-than-goal rounds show in its spread).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import math
import os
import pstats
import statistics
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from headend.collection.terminal_pull import FrozenPull
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.terminals import TerminalServer
from headend.terminals.server import terminal_key
from protocols.gdw1376 import Address, encode, parse_units
from protocols.gdw1376.messages import read_daily
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from simulators.concentrator.store import tariff_split
from storage.records import Reading

REGION = "1100"
TZ = ZoneInfo("Asia/Shanghai")
STORE_TODAY = date(2026, 3, 31)
"""The simulated concentrators' today: they hold the 31 days before it."""
FIRST_DAY = date(2026, 3, 1)
"""The day the warm-up pull asks for; each round asks for the next one."""
HEARTBEAT = 60.0
POINTS_PER_REQUEST = 64
GOAL_RATIO = 20.0
GOAL_KIB = 64.0
GOAL_METERS_PER_S = 256_000 / 600
TOP = 15
ECHO_REPEAT = 10
"""Days the echo sends per round: its CPU is about 1 % of the pull's, too little to time once."""


@dataclass(frozen=True, slots=True)
class Size:
    terminals: int
    meters: int

    @property
    def total(self) -> int:
        return self.terminals * self.meters


def meter_id(terminal: int, point: int) -> str:
    return f"t{terminal:04d}-m{point:03d}"


def meter_address(terminal: int, point: int) -> str:
    return f"{terminal:06d}{point:06d}"


def frozen_total(meter: str, day: date) -> float:
    """The simulator's ground truth: a register that grows by a meter-specific daily amount."""
    seed = zlib.crc32(meter.encode())
    return round(1000.0 + (seed % 5000) / 10 + (day - FIRST_DAY).days * (5 + seed % 17), 4)


def concentrator(terminal: int, meters: int) -> SimulatedConcentrator:
    points = [
        StoreMeter(p, meter_id(terminal, p), meter_address(terminal, p))
        for p in range(1, meters + 1)
    ]
    store = FrozenStore(points, frozen_total, lambda: STORE_TODAY, keeps_days=31)
    clock = lambda: datetime.combine(STORE_TODAY, datetime.min.time())  # noqa: E731
    return SimulatedConcentrator(
        Address(REGION, terminal), store, clock, heartbeat_period=HEARTBEAT
    )


def day_exchange(meters: int) -> list[bytes]:
    """One terminal's day as the master receives it: per request, the simulator's reply bytes
    (its ``_answer``, the frames it would write, taken without a socket)."""
    sim = concentrator(1, meters)
    chunks = []
    for seq, at in enumerate(range(1, meters + 1, POINTS_PER_REQUEST)):
        points = range(at, min(at + POINTS_PER_REQUEST, meters + 1))
        frame = read_daily(sim.address.with_master(1), points, 161, FIRST_DAY, seq=seq % 16)
        chunks.append(b"".join(encode(f) for f in sim._answer(frame, parse_units(frame))))
    return chunks


def frames_in(chunks: Sequence[bytes]) -> int:
    """Frames in the bytes: each is 68 L L 68 ... 16 with its length in the L field."""
    count = 0
    for chunk in chunks:
        at = 0
        while at < len(chunk):
            length = int.from_bytes(chunk[at + 1 : at + 3], "little") >> 2
            at += length + 8
            count += 1
    return count


# -- the child: simulated concentrators, or the echo's clients -------------------------------


async def serve_simulators(size: Size, port: int) -> None:
    """Every concentrator dials the master until stdin closes."""
    sims = [concentrator(t, size.meters) for t in range(1, size.terminals + 1)]
    tasks = [asyncio.create_task(sim.run("127.0.0.1", port)) for sim in sims]
    await wait_stdin_closed()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def wait_stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while await commands.readline():
        pass


class _EchoClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = 0
        self.expected = 0
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.waiter is not None and self.received >= self.expected:
            self.waiter.set_result(None)
            self.waiter = None


async def serve_echo_clients(size: Size, port: int) -> None:
    """Per ``go`` line on stdin: each connection in turn sends the day, request by request,
    each chunk once the previous one's echo is back; then ``done``."""
    chunks = day_exchange(size.meters)
    loop = asyncio.get_running_loop()
    links = [
        await loop.create_connection(_EchoClient, "127.0.0.1", port) for _ in range(size.terminals)
    ]
    print(json.dumps({"frames": frames_in(chunks)}), flush=True)

    async def day(transport: asyncio.Transport, client: _EchoClient) -> None:
        for chunk in chunks:
            client.received, client.expected = 0, len(chunk)
            client.waiter = loop.create_future()
            transport.write(chunk)
            await client.waiter

    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while await commands.readline():
        for _ in range(ECHO_REPEAT):
            for transport, client in links:  # one terminal after the other, as the pull goes
                await day(transport, client)
        print("done", flush=True)
    for transport, _ in links:
        transport.close()


async def child(mode: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        mode,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


# -- this process: the master station ---------------------------------------------------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fleet(size: Size) -> dict[str, ConcentratorConfig]:
    terminals = {}
    for t in range(1, size.terminals + 1):
        name = f"jzq-{t:04d}"
        meters = tuple(
            TerminalMeterConfig(meter_id(t, p), name, p, meter_address(t, p))
            for p in range(1, size.meters + 1)
        )
        key = terminal_key(Address(REGION, t))
        terminals[name] = ConcentratorConfig(name, key, HEARTBEAT, None, 1, meters)
    return terminals


class Sink:
    """The pull's ``emit``: keeps the readings (checked after the timed span) and says stored."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    async def __call__(self, readings: list[Reading], *, then: object = None) -> None:
        self.readings += readings
        if callable(then):
            then(True)

    def check(self, size: Size, day: date) -> None:
        totals = {
            r.meter: r.value
            for r in self.readings
            if r.quantity.endswith("_total") and r.value is not None
        }
        if len(totals) != size.total:
            raise RuntimeError(f"{day}: pulled {len(totals)} meters of {size.total}")
        for t in range(1, size.terminals + 1):
            for p in range(1, size.meters + 1):
                meter = meter_id(t, p)
                truth = tariff_split(frozen_total(meter, day))[0]
                if not math.isclose(totals[meter], truth, abs_tol=1e-4):
                    raise RuntimeError(f"{meter} {day}: pulled {totals[meter]}, simulator {truth}")
        self.readings.clear()


@dataclass(frozen=True, slots=True)
class Round:
    echo_us: float
    pull_us: float
    seconds: float
    meters_per_s: float

    @property
    def ratio(self) -> float:
        return self.pull_us / self.echo_us


async def pull_round(pull: FrozenPull, sink: Sink, size: Size, day: date) -> tuple[float, float]:
    """One day of every meter: (process CPU s, wall s), values checked afterwards."""
    requests = pull.stats.requests
    cpu, wall = time.process_time(), time.perf_counter()
    await pull.run_pass(datetime.combine(day + timedelta(days=1), datetime.min.time(), TZ))
    spent = time.process_time() - cpu, time.perf_counter() - wall
    expected = size.terminals * math.ceil(size.meters / POINTS_PER_REQUEST)
    if pull.stats.requests - requests != expected or pull.stats.failures or pull.stats.offline:
        raise RuntimeError(f"pull of {day}: {pull.stats}")
    sink.check(size, day)
    return spent


async def measure(size: Size, rounds: int, profile: bool) -> tuple[list[Round], float]:
    """The rounds and the RSS per session (KiB)."""
    loop = asyncio.get_running_loop()
    echo = await loop.create_server(_Echo, "127.0.0.1", 0)
    echo_port = echo.sockets[0].getsockname()[1]
    clients = await child("echo", str(size.terminals), str(size.meters), str(echo_port))
    assert clients.stdin is not None
    assert clients.stdout is not None
    frames_per_terminal: int = json.loads(await clients.stdout.readline())["frames"]
    frames = frames_per_terminal * size.terminals
    echo_frames = frames * ECHO_REPEAT

    gc.collect()
    before = rss()
    server = TerminalServer(default_heartbeat=HEARTBEAT, login_timeout=60.0)
    await server.start()
    sims = await child("sims", str(size.terminals), str(size.meters), str(server.port))
    started = time.perf_counter()
    async with asyncio.timeout(300):
        while len(server.sessions) < size.terminals:
            await server.wait_change()
    gc.collect()
    per_session = (rss() - before) / size.terminals / 1024
    print(
        f"{size.terminals} terminals x {size.meters} meters ({size.total} meters), "
        f"{frames_per_terminal} reply frames a terminal-day; all logged in after "
        f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(f"  RSS per session: {per_session:.1f} KiB (master process, {size.terminals} sessions)")

    sink = Sink()
    master = MasterConfig(reply_timeout=30.0, retries=0)
    pull = FrozenPull(server, fleet(size), master, TZ, sink)
    day = FIRST_DAY
    await pull_round(pull, sink, size, day)  # warm-up: the archive read-back after login
    results: list[Round] = []
    try:
        for number in range(1, rounds + 1):
            cpu = time.process_time()
            clients.stdin.write(b"go\n")
            await clients.stdin.drain()
            if await clients.stdout.readline() != b"done\n":
                raise RuntimeError("echo clients ended")
            echo_cpu = time.process_time() - cpu
            day += timedelta(days=1)
            gc.collect()
            pull_cpu, wall = await pull_round(pull, sink, size, day)
            result = Round(
                echo_cpu / echo_frames * 1e6, pull_cpu / frames * 1e6, wall, size.total / wall
            )
            results.append(result)
            print(
                f"  round {number}: echo {result.echo_us:6.1f} µs CPU/frame | pull "
                f"{result.pull_us:6.1f} µs CPU/frame, {wall:6.2f} s for {size.total} meters "
                f"({result.meters_per_s:7.0f} meters/s) | ratio {result.ratio:.2f}"
            )
        if profile:
            profiler = cProfile.Profile()
            day += timedelta(days=1)
            profiler.enable()
            await pull_round(pull, sink, size, day)
            profiler.disable()
            print_profile(pstats.Stats(profiler), frames)
    finally:
        for process in (clients, sims):
            assert process.stdin is not None
            process.stdin.close()
        await clients.wait()
        await server.aclose()
        sims.kill()
        await sims.wait()
        echo.close()
    return results, per_session


def print_profile(stats: pstats.Stats, frames: int) -> None:
    table = stats.stats  # type: ignore[attr-defined]
    rows = sorted(table.items(), key=lambda item: item[1][2], reverse=True)
    print(f"  top {TOP} by own time (cProfile, one pull round, {frames} reply frames):")
    print(f"  {'tottime s':>9} {'µs/frame':>9} {'cumtime s':>9} {'ncalls':>9}  function")
    for (path, line, name), (_, calls, tottime, cumtime, _) in rows[:TOP]:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}({name})" if line else name
        print(f"  {tottime:9.3f} {tottime / frames * 1e6:9.1f} {cumtime:9.3f} {calls:9d}  {where}")


def spread(values: Sequence[float], digits: int) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


async def main(size: Size, rounds: int, profile: bool) -> None:
    results, per_session = await measure(size, rounds, profile)
    ratios = [r.ratio for r in results]
    rates = [r.meters_per_s for r in results]
    seconds = statistics.median(r.seconds for r in results)
    rate = statistics.median(rates)
    print(
        f"  pull of one day: {seconds:.2f} s for {size.total} meters, {rate:.0f} meters/s "
        f"({spread(rates, 0)}); echo {statistics.median(r.echo_us for r in results):.1f} µs/frame,"
        f" pull {statistics.median(r.pull_us for r in results):.1f} µs/frame"
    )
    verdict = "PASS" if per_session <= GOAL_KIB else "FAIL"
    print(f"terminals_rss_per_session: {per_session:.1f} KiB goal <= {GOAL_KIB:.0f} KiB {verdict}")
    verdict = "PASS" if rate >= GOAL_METERS_PER_S else "FAIL"
    print(
        f"terminals_pull_meters_per_s: {rate:.0f} ({spread(rates, 0)}) goal >= "
        f"{GOAL_METERS_PER_S:.0f} {verdict}"
    )
    ratio = statistics.median(ratios)
    verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"
    print(
        f"terminals_frame_cpu: {ratio:.2f} ({spread(ratios, 2)}) goal <= {GOAL_RATIO:.0f} {verdict}"
    )


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    full = os.environ.get("BENCH_FULL") == "1"
    parser.add_argument("--full", action="store_true", default=full, help="1,000 x 256")
    parser.add_argument("--small", action="store_true", help="100 x 256 (the default)")
    parser.add_argument("--terminals", type=int, help="terminals (small 100, full 1000)")
    parser.add_argument("--meters", type=int, default=256, help="meters per terminal")
    parser.add_argument("--rounds", type=int, default=3, help="pull rounds")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled round")
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = arguments(sys.argv[1:])
    if args.serve:
        mode, terminals, meters, port = args.serve
        size = Size(int(terminals), int(meters))
        serve = serve_simulators if mode == "sims" else serve_echo_clients
        asyncio.run(serve(size, int(port)))
    else:
        count = args.terminals or (1000 if args.full and not args.small else 100)
        asyncio.run(main(Size(count, args.meters), args.rounds, not args.no_profile))
