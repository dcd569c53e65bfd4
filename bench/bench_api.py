"""API latency with 50 concurrent readers while the engine collects, against a bare FastAPI app
returning the same bytes, served the same way in the same run.

    .venv/bin/python bench/bench_api.py               # default, ~40 s: 1,000 meters
    .venv/bin/python bench/bench_api.py --full        # 10,000 meters, 500 gateways (BENCH_FULL=1)
    .venv/bin/python bench/bench_api.py --meters 200 --rounds 1 --seconds 1   # smoke, ~10 s
    .venv/bin/python bench/bench_api.py --profile     # the head-end under cProfile (figures void)

Default: 1,000 meters on 50 gateways read every 2 s, 3 rounds of 3 s blocks. Full: 10,000 on
500 read every 20 s (500 reads/s either way), 5 rounds; its fleet-wide ``latest`` is ~5 MB, and
a block lasts until the answers in flight at its end have come (minutes at that size).

Processes, all real: the fast DL/T 645 gateways of ``bench_tcp_poll.py`` (zero reply delay);
``headend run`` on a fleet file written here (one channel per gateway, the voltages of every
meter read every ``interval``, embedded store, one reader token), which serves the API with
uvicorn while it collects; and, started once the head-end has read every meter, the bare
baseline: a FastAPI app with the same three routes, each returning bytes fetched from the
head-end before the rounds, served by uvicorn with the same settings and a TCP_NODELAY
listener, as ``headend.service`` does.

The readers (this process, aiohttp) are 50 closed loops: each sends its next request as soon as
the previous answer has been read whole, cycling over the requests the dashboard makes for the
fleet page's latest values and for a meter page:

  latest   GET /api/readings/latest                       (every meter's latest readings)
  meter    GET /api/meters/{id}                           (the meter page: facts and latest)
  history  GET /api/meters/{id}/readings?quantity=...     (the meter page's 24 h chart)

with meter ids spread over the fleet. Latency is from sending the request to having read the
whole body. Each round times the bare app for ``--seconds``, then the head-end for as long.

Before the rounds, the head-end's CPU is taken for one block without readers (collection alone).
Each round then prints the CPU each server used per request (the head-end's over collection
alone) and what the readers' own process used: on a machine shared with other jobs no process
may be CPU-bound, and the latencies are then set by the scheduler more than by either server,
while CPU per request still compares the two.

Ratio: p99 of the bare app / p99 of the head-end, each over all requests of that round's block
(same readers, same mix, same length of time); 1.0 means our app adds nothing to the tail,
0.1 that our p99 is ten times the bare one. The printed ratio is the median over rounds, the
spread the lowest and highest round. The goal is the issue's absolute one: the head-end's p99
under 100 ms for each request kind (pooled over rounds), judged on the worst kind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import pstats
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from bench_tcp_poll import QUANTITIES, Gateways, Size, address_of, fleet_toml, print_profile
from prometheus_client.parser import text_string_to_metric_families

READERS = 50
GOAL_P99_S = 0.100
KINDS = ("latest", "meter", "history")
SAMPLE = 100
"""Meters whose pages the readers ask for (spread evenly over the fleet)."""
TOKEN_ENV = "BENCH_API_TOKEN"
HEADEND = Path(sys.executable).parent / "headend"


@dataclass(frozen=True, slots=True)
class Load:
    meters: int
    gateways: int
    interval: int
    """Seconds between two reads of a meter: the engine collects meters / interval reads/s."""


@dataclass(slots=True)
class Block:
    """One block of requests against one server: latencies by kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    elapsed: float = 0.0
    """From the start until the last answer (requests in flight at the end are waited for)."""

    def all(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def paths(meter_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(kind, path) in the order the readers cycle through them."""
    quantity = QUANTITIES[0]
    chosen: list[tuple[str, str]] = []
    for meter in meter_ids:
        chosen.append(("latest", "/api/readings/latest"))
        chosen.append(("meter", f"/api/meters/{meter}"))
        chosen.append(("history", f"/api/meters/{meter}/readings?quantity={quantity}"))
    return chosen


# -- the bare baseline (child process) -------------------------------------------------------


def serve_bare(bodies_file: Path) -> None:
    """The baseline app: the same three routes, answering with stored bytes."""
    import uvicorn
    from fastapi import FastAPI, Response

    bodies: dict[str, bytes] = {
        path: body.encode() for path, body in json.loads(bodies_file.read_text()).items()
    }
    app = FastAPI()
    media = "application/json"

    @app.get("/api/readings/latest")
    async def latest() -> Response:
        return Response(bodies["/api/readings/latest"], media_type=media)

    @app.get("/api/meters/{meter_id}")
    async def meter(meter_id: str) -> Response:
        return Response(bodies[f"/api/meters/{meter_id}"], media_type=media)

    @app.get("/api/meters/{meter_id}/readings")
    async def history(meter_id: str, quantity: str) -> Response:
        return Response(
            bodies[f"/api/meters/{meter_id}/readings?quantity={quantity}"], media_type=media
        )

    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, lifespan="off")
    asyncio.run(uvicorn.Server(config).serve(sockets=[listener]))


@contextlib.asynccontextmanager
async def bare_server(bodies: dict[str, bytes], folder: Path) -> AsyncIterator[tuple[str, int]]:
    bodies_file = folder / "bodies.json"
    bodies_file.write_text(json.dumps({path: body.decode() for path, body in bodies.items()}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--bare", str(bodies_file), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the bare app exited before listening")
        yield f"http://127.0.0.1:{json.loads(line)['port']}", process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


# -- the head-end (child process) ------------------------------------------------------------


@contextlib.asynccontextmanager
async def headend(
    load: Load, ports: Sequence[int], folder: Path, profile: Path | None
) -> AsyncIterator[tuple[str, str, int]]:
    """``headend run`` on the fleet; yields its URL, the reader token and its process id.
    With ``profile``, it runs under cProfile, which writes there once it has stopped."""
    size = Size(load.gateways, load.meters)
    token = secrets.token_urlsafe(24)
    fleet = folder / "fleet.toml"
    fleet.write_text(
        fleet_toml(size, ports, interval=f"{load.interval}s")
        + f'\n[api]\nlisten = "127.0.0.1:0"\n[[api.tokens]]\nname = "bench"\nrole = "reader"\n'
        f'token_env = "{TOKEN_ENV}"\n'
    )
    command = [str(HEADEND)]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "headend.cli"]
    process = await asyncio.create_subprocess_exec(
        *command,
        "run",
        "--config",
        str(fleet),
        "--data-dir",
        str(folder / "data"),
        env={**os.environ, TOKEN_ENV: token},
        stdout=asyncio.subprocess.PIPE,
        stderr=(folder / "headend.log").open("wb"),
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(120):
            while line := (await process.stdout.readline()).decode():
                if line.startswith("head-end running"):
                    break
            else:
                raise RuntimeError("headend run exited before serving")
        yield line.rsplit(" ", 1)[-1].strip().rstrip("/"), token, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


async def wait_collected(session: aiohttp.ClientSession, url: str, readings: int) -> None:
    """Until every meter's voltages are in ``latest`` (every page then has something to show)."""
    async with asyncio.timeout(120):
        while True:
            async with session.get(f"{url}/api/readings/latest") as response:
                response.raise_for_status()
                if len(await response.json()) >= readings:
                    return
            await asyncio.sleep(0.5)


# -- the readers -----------------------------------------------------------------------------


async def block(
    headers: dict[str, str], url: str, chosen: Sequence[tuple[str, str]], seconds: float
) -> Block:
    """One block of the readers against ``url``, on connections of its own: a connection
    left idle since the last block may have been closed by the server's keep-alive timeout."""
    connector = aiohttp.TCPConnector(limit=READERS)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        began = time.perf_counter()
        result = await _block(session, url, chosen, seconds)
        result.elapsed = time.perf_counter() - began
        return result


async def _block(
    session: aiohttp.ClientSession, url: str, chosen: Sequence[tuple[str, str]], seconds: float
) -> Block:
    result = Block()
    until = time.perf_counter() + seconds

    async def reader(start: int) -> None:
        for kind, path in itertools.islice(itertools.cycle(chosen), start, None):
            if time.perf_counter() >= until:
                return
            began = time.perf_counter()
            async with session.get(url + path) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url}{path}: HTTP {response.status}")
            result.latencies[kind].append(time.perf_counter() - began)

    await asyncio.gather(*(reader(i) for i in range(READERS)))  # kinds and meters interleaved
    return result


@dataclass(frozen=True, slots=True)
class Collection:
    """The head-end's own counters (``/metrics``): scheduled reads that succeeded, overran."""

    succeeded: float
    overruns: float


async def collection(session: aiohttp.ClientSession, url: str) -> Collection:
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    totals = {"headend_reads": 0.0, "headend_bus_overruns": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "headend_reads_total" and sample.labels["outcome"] == "success":
                totals["headend_reads"] += sample.value
            elif sample.name == "headend_bus_overruns_total":
                totals["headend_bus_overruns"] += sample.value
    return Collection(totals["headend_reads"], totals["headend_bus_overruns"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc: no psutil needed)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def milliseconds(values: Sequence[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:7.1f} {percentile(values, 0.99) * 1000:7.1f}"


async def main(load: Load, rounds: int, seconds: float, profile: bool) -> None:
    size = Size(load.gateways, load.meters)
    gateways = await Gateways.start(size)
    meter_ids = [address_of(g, m) for g in range(size.gateways) for m in range(size.meters)]
    sample = meter_ids[:: max(1, len(meter_ids) // SAMPLE)][:SAMPLE]
    chosen = paths(sample)
    ours_blocks: list[Block] = []
    bare_blocks: list[Block] = []
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            profiled = folder / "headend.prof" if profile else None
            async with headend(load, gateways.ports, folder, profiled) as (url, token, pid):
                headers = {"Authorization": f"Bearer {token}"}
                connector = aiohttp.TCPConnector(force_close=True)  # see block()
                async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
                    await wait_collected(session, url, len(meter_ids) * len(QUANTITIES))
                    bodies: dict[str, bytes] = {}
                    for _, path in chosen:
                        if path not in bodies:
                            async with session.get(url + path) as response:
                                response.raise_for_status()
                                bodies[path] = await response.read()
                    sizes = {kind: len(bodies[path]) for kind, path in chosen}
                    print(
                        f"{len(meter_ids)} meters on {load.gateways} gateways, read every "
                        f"{load.interval} s ({len(meter_ids) / load.interval:.0f} reads/s) while "
                        f"{READERS} readers ask; body bytes: "
                        + ", ".join(f"{kind} {sizes[kind]:,}" for kind in KINDS)
                        + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
                    )
                    wanted = len(meter_ids) / load.interval
                    cpu, began = cpu_seconds(pid), time.perf_counter()
                    await asyncio.sleep(seconds)  # no readers: what collection alone costs
                    collecting = (cpu_seconds(pid) - cpu) / (time.perf_counter() - began)
                    print(f"  collection alone (no readers): {collecting:.2f} CPU cores")
                    async with bare_server(bodies, folder) as (bare_url, bare_pid):
                        for number in range(1, rounds + 1):
                            bare_cpu, client_cpu = cpu_seconds(bare_pid), time.process_time()
                            bare = await block(headers, bare_url, chosen, seconds)
                            bare_busy = (cpu_seconds(bare_pid) - bare_cpu) / bare.elapsed
                            bare_client = (time.process_time() - client_cpu) / bare.elapsed
                            cpu, before = cpu_seconds(pid), await collection(session, url)
                            client_cpu = time.process_time()
                            ours = await block(headers, url, chosen, seconds)
                            busy = (cpu_seconds(pid) - cpu) / ours.elapsed
                            ours_client = (time.process_time() - client_cpu) / ours.elapsed
                            after = await collection(session, url)
                            collected = (after.succeeded - before.succeeded) / ours.elapsed
                            overruns = after.overruns - before.overruns
                            bare_blocks.append(bare)
                            ours_blocks.append(ours)
                            print(
                                f"  round {number}: p50/p99 bare {milliseconds(bare.all())} ms "
                                f"({len(bare.all())} requests) | head-end "
                                f"{milliseconds(ours.all())} ms ({len(ours.all())} requests)"
                            )
                            print(
                                f"    in those {ours.elapsed:.1f} s the head-end used {busy:.2f} "
                                f"CPU cores and "
                                f"collected {collected:.0f} reads/s of {wanted:.0f} due, "
                                f"{overruns:.0f} slots overrun (bus_overrun)"
                            )
                            per_request = (busy - collecting) * ours.elapsed / len(ours.all())
                            bare_request = bare_busy * bare.elapsed / len(bare.all())
                            print(
                                f"    server CPU per request: head-end {per_request * 1e6:.0f} "
                                f"µs (over collection alone), bare {bare_request * 1e6:.0f} µs "
                                f"(bare used {bare_busy:.2f} cores); the readers' process used "
                                f"{bare_client:.2f} cores against bare, {ours_client:.2f} "
                                "against the head-end"
                            )
            if profiled is not None:
                requests = sum(len(b.all()) for b in ours_blocks)
                print_profile(
                    pstats.Stats(str(profiled)),
                    f"the whole head-end process, {requests} requests in the timed blocks",
                    requests,
                    "request",
                )
                print("  (figures of a profiled run are not comparable: cProfile slows ours)")
    finally:
        await gateways.aclose()
    report(ours_blocks, bare_blocks)


def report(ours_blocks: Sequence[Block], bare_blocks: Sequence[Block]) -> None:
    print(f"  {'kind':8} {'head-end p50 p99 ms':>20} {'bare p50 p99 ms':>18} {'requests':>10}")
    worst = 0.0
    for kind in KINDS:
        ours = [v for b in ours_blocks for v in b.latencies[kind]]
        bare = [v for b in bare_blocks for v in b.latencies[kind]]
        worst = max(worst, percentile(ours, 0.99))
        print(f"  {kind:8} {milliseconds(ours):>20} {milliseconds(bare):>18} {len(ours):>10}")
    ratios = [
        percentile(b.all(), 0.99) / percentile(o.all(), 0.99)
        for o, b in zip(ours_blocks, bare_blocks, strict=True)
    ]
    ratio = statistics.median(ratios)
    verdict = "PASS" if worst < GOAL_P99_S else "FAIL"
    print(f"api_p99_worst_kind: {worst * 1000:.0f} ms goal < {GOAL_P99_S * 1000:.0f} ms {verdict}")
    print(
        f"api_latency: {ratio:.3f} ({min(ratios):.3f}-{max(ratios):.3f}) goal p99 < "
        f"{GOAL_P99_S * 1000:.0f} ms {verdict}"
    )


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    full = os.environ.get("BENCH_FULL") == "1"
    parser.add_argument("--full", action="store_true", default=full, help="10,000 meters")
    parser.add_argument("--meters", type=int, help="default 1000; full 10000")
    parser.add_argument("--gateways", type=int, help="default 50; full 500")
    parser.add_argument("--interval", type=int, help="seconds between reads of a meter")
    parser.add_argument("--rounds", type=int, help="default 3; full 5")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one block")
    parser.add_argument(
        "--profile", action="store_true", help="run the head-end under cProfile (figures void)"
    )
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = arguments(sys.argv[1:])
    if args.bare is not None:
        serve_bare(args.bare)
    else:
        meters = args.meters or (10_000 if args.full else 1_000)
        chosen_load = Load(
            meters=meters,
            gateways=args.gateways or (500 if args.full else 50),
            interval=args.interval or max(1, meters // 500),
        )
        asyncio.run(
            main(chosen_load, args.rounds or (5 if args.full else 3), args.seconds, args.profile)
        )
