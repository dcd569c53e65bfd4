"""``headend simulate SCENARIO``: serve a whole simulated community until Ctrl-C.

The point is a demo or a manual test in one command: every RS-485 bus of the scenario behind
its own TCP gateway, the transformer terminal on MQTT when a broker is given, and optionally
the matching fleet config written out so ``headend run`` reads exactly these meters. The
endpoint lines are printed (and flushed) before anything else happens, so a script can read
stdout until ``ready`` instead of sleeping and hoping.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from headend.cli_errors import CommandFailed, ExitCode, UsageProblem

if TYPE_CHECKING:
    # The simulators bring numpy and pymodbus: imported by the handler, not at CLI start.
    from simulators.runner import Endpoints, ScenarioRunner
    from simulators.scenario import Scenario

READY = "ready"
"""The last line printed at start: everything listed above it is listening."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "simulate",
        help="serve a simulated community (DL/T 645 gateways, terminal MQTT) until Ctrl-C",
        description=(
            "Run a scenario: one TCP gateway per RS-485 bus and, with --mqtt, the transformer "
            "terminal publishing to that broker. Prints where everything listens."
        ),
    )
    parser.add_argument("scenario", metavar="SCENARIO", help="bundled name or path to a .toml")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--speed",
        type=_speed,
        default=60.0,
        help="simulated seconds per real second (default 60: an hour a minute)",
    )
    parser.add_argument(
        "--port-base",
        type=_port,
        default=0,
        metavar="P",
        help="bus i listens on P+i (default: the scenario's ports, 0 = any free port)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the gateways listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--mqtt", type=_broker, metavar="HOST:PORT", help="broker for the terminal simulator"
    )
    parser.add_argument(
        "--write-config",
        type=Path,
        metavar="PATH",
        help="write the matching head-end fleet config (TOML) to PATH",
    )
    parser.set_defaults(handler=run, parser=parser)


def bundled_scenarios() -> list[str]:
    """Names ``headend simulate NAME`` accepts without a path."""
    from simulators.scenario import SCENARIO_DIR

    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def _unknown_bundled_name(text: str) -> str | None:
    """The message for a bare name that is neither a file nor a bundled scenario."""
    from simulators.scenario import SCENARIO_DIR

    path = Path(text)
    if path.suffix or path.exists() or len(path.parts) != 1:
        return None  # a path: load_scenario names the file and what is wrong with it
    bundled = SCENARIO_DIR / f"{text}.toml"
    if bundled.is_file():
        return None
    return (
        f"no bundled scenario {text!r} (no {bundled}): choose one of "
        f"{', '.join(bundled_scenarios())} or give the path of a scenario .toml file"
    )


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0..65535")
    return value


def _broker(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    value = _port(port)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a broker port > 0, got {text!r}")
    return host, value


def run(args: argparse.Namespace) -> int:
    from simulators.runner import RunnerError, ScenarioRunner
    from simulators.scenario import ScenarioError, load_scenario

    unknown = _unknown_bundled_name(args.scenario)
    if unknown is not None:
        raise CommandFailed(ExitCode.USAGE, unknown)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None
    try:
        runner = ScenarioRunner(
            scenario,
            seed=args.seed,
            speed=args.speed,
            host=args.host,
            base_port=args.port_base,
            mqtt=args.mqtt,
        )
    except RunnerError as exc:
        raise UsageProblem(str(exc)) from None
    return asyncio.run(_serve(runner, args.write_config, sys.stdout))


async def _serve(runner: ScenarioRunner, config_path: Path | None, out: TextIO) -> int:
    from simulators.runner import RunnerError

    stop = asyncio.Event()
    with _stop_on_signals(stop):
        try:
            async with runner:
                endpoints = runner.endpoints()
                if config_path is not None:
                    _write_config(runner.scenario, endpoints, config_path)
                for line in describe(runner, endpoints, config_path):
                    print(line, file=out, flush=True)
                await stop.wait()
                print(f"stopping at simulated {_local(runner, runner.now())}", file=out, flush=True)
        except RunnerError as exc:
            raise CommandFailed(ExitCode.LINK_FAILED, str(exc)) from None
    return ExitCode.OK


def describe(
    runner: ScenarioRunner, endpoints: Endpoints, config_path: Path | None = None
) -> Iterator[str]:
    """The start-up lines: one per bus gateway, the MQTT topics, simulated time, then ready."""
    scenario = runner.scenario
    yield (
        f"scenario {scenario.name}: {len(scenario.meters)} meters on {len(scenario.buses)} "
        f"buses, {len(scenario.transformers)} transformers (seed {runner.seed})"
    )
    for bus in scenario.buses:
        count = len(scenario.meters_on_bus(bus.id))
        yield f"bus {bus.id} {endpoints.buses[bus.id]} {bus.protocol} {count} meters"
    if endpoints.mqtt is not None:
        for terminal in endpoints.mqtt.terminals:
            yield (
                f"mqtt {endpoints.mqtt.url} transformer {terminal.transformer} "
                f"telemetry {terminal.telemetry} request {terminal.request} "
                f"response {terminal.response}"
            )
    if config_path is not None:
        yield f"fleet config {config_path}"
    yield f"simulated time {_local(runner, runner.now())} speed {runner.speed:g}x"
    yield READY


def _local(runner: ScenarioRunner, moment: datetime) -> str:
    return moment.astimezone(runner.scenario.utc_offset).isoformat(timespec="seconds")


def _write_config(scenario: Scenario, endpoints: Endpoints, path: Path) -> None:
    from simulators.fleet_export import dump_toml, fleet_config_for

    text = dump_toml(fleet_config_for(scenario, endpoints))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandFailed(
            ExitCode.USAGE, f"--write-config {path}: cannot write: {exc.strerror or exc}"
        ) from None


@contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` so the runner closes its gateways and exits 0."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    try:
        yield
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
