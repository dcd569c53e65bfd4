"""``headend demo``: a whole community and the head-end in one process, nothing to install.

The scenario's meters answer on one simulated TCP gateway per building, on a clock running
``--speed`` times faster than real time that the head-end shares, so its 15-minute reads, the
evening peak and the anomaly rules' one-hour durations play out in minutes. Storage is the
embedded store; the dashboard URL printed at start carries an operator token for this run.

The buses are simulated at 9600 baud instead of the scenario's 2400: at 20x speed, a real
2400-baud bus of fifty meters cannot be polled every simulated fifteen minutes (the collector
would report ``bus_overrun``, as it should for a real bus run that hard).
"""

from __future__ import annotations

import argparse
import secrets
import socket
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from headend.cli.errors import CommandFailed, ExitCode, run_service
from headend.cli.simulate import scenario_argument

if TYPE_CHECKING:
    # Simulators, engine and service bring numpy, FastAPI and uvicorn: imported by the handler.
    from simulators.scenario import Scenario

DEMO_BAUD = 9600
TELEMETRY_INTERVAL = "15m"
TOKEN_ENV = "HEADEND_DEMO_TOKEN"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        help="run a scenario's simulators and the head-end together, with the dashboard",
        description="Simulated community + head-end + anomaly detection + dashboard.",
    )
    parser.add_argument("--scenario", default="retrofit-before", help="scenario name or file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=20.0, help="simulated seconds per second")
    parser.add_argument(
        "--start", default="18:00", help="local time of day the simulation starts (HH:MM)"
    )
    parser.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    parser.add_argument("--listen", default="127.0.0.1:8080", help="host:port of the dashboard")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    scenario = scenario_argument(args.scenario)
    try:
        hour, minute = (int(part) for part in args.start.split(":"))
        time_of_day = time(hour, minute)
    except ValueError:
        raise CommandFailed(
            ExitCode.USAGE, f"--start: expected HH:MM, got {args.start!r}"
        ) from None
    local_start = scenario.start.astimezone(scenario.utc_offset)
    start = datetime.combine(local_start.date(), time_of_day, scenario.utc_offset)
    if start < scenario.start:
        raise CommandFailed(
            ExitCode.USAGE, f"--start {args.start} is before the scenario starts ({scenario.start})"
        )
    run_service(_demo(args, scenario, start, _fresh_store(args.data_dir)))
    return ExitCode.OK


def _free_port() -> int:
    """A loopback port for the master station: the concentrators must know it before the
    head-end listens (the demo starts them first), so it is picked, not left to bind time."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _fresh_store(data_dir: Path) -> Path:
    """Each demo starts from an empty embedded store."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = data_dir / "demo.sqlite"
    for stale in (
        store,
        store.with_name(store.name + "-wal"),
        store.with_name(store.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    return store


async def _demo(args: argparse.Namespace, scenario: Scenario, start: datetime, store: Path) -> None:
    from headend.clock import WarpedClock
    from headend.config.fleet import parse_fleet_config
    from headend.engine import EngineOptions
    from headend.service import ServiceOptions, serve
    from simulators.concentrator.community import ConcentratorPlan
    from simulators.fleet_export import fleet_config_for
    from simulators.runner import ScenarioRunner

    data_dir: Path = args.data_dir
    clock = WarpedClock(start, args.speed)
    token = secrets.token_urlsafe(24)
    concentrators = None
    if scenario.concentrators is not None:  # read through concentrators that dial in to us
        spec = scenario.concentrators
        master = ("127.0.0.1", _free_port())
        concentrators = ConcentratorPlan(master, spec.heartbeat_s, spec.keeps_days)
    async with ScenarioRunner(
        scenario,
        seed=args.seed,
        speed=args.speed,
        start=start,
        baud=DEMO_BAUD,
        concentrators=concentrators,
        clock=clock.now,
    ) as runner:
        document = fleet_config_for(
            scenario, runner.endpoints(), storage={"kind": "embedded", "path": str(store)}
        )
        for channel in document["channels"]:
            channel["inter_frame_gap"] = "20ms"
        for plan in document["plans"].values():
            for read in plan["reads"]:
                if read["lane"] == "telemetry":
                    read["interval"] = TELEMETRY_INTERVAL
        document["api"] = {
            "listen": args.listen,
            "tokens": [{"name": "demo-operator", "role": "operator", "token_env": TOKEN_ENV}],
        }
        config = parse_fleet_config(document, f"demo {scenario.name}")

        async def ready(url: str) -> None:
            print(
                f"scenario {scenario.name}: {len(scenario.meters)} meters on "
                f"{len(scenario.buses)} buses, simulated time {start:%Y-%m-%d %H:%M} "
                f"x{args.speed:g}",
                flush=True,
            )
            for placed in runner.concentrators:
                host, port = runner.endpoints().master or ("?", 0)
                print(
                    f"concentrator {placed.name} ({len(placed.meters)} meters of transformer "
                    f"{placed.transformer}) dials the master station at {host}:{port}",
                    flush=True,
                )
            print(f"dashboard: {url}#token={token}", flush=True)
            print("Ctrl-C stops the demo", flush=True)

        await serve(
            config,
            ServiceOptions(
                data_dir=data_dir,
                clock=clock,
                engine=EngineOptions(
                    audit_path=data_dir / "audit.jsonl",
                    sweep_interval=300.0,
                    # Hourly passes are ~1 % of a real bus; at 20x they would be ~25 %.
                    backfill_interval=6 * 3600.0,
                ),
            ),
            environ={TOKEN_ENV: token},
            on_ready=ready,
        )
