"""``headend simulate SCENARIO``: serve a whole simulated community until Ctrl-C.

The point is a demo or a manual test in one command: every RS-485 bus of the scenario behind
its own TCP gateway, the transformer terminal on MQTT when a broker is given, and optionally
the matching fleet config written out so ``headend run`` reads exactly these meters. The
endpoint lines are printed (and flushed) before anything else happens, so a script can read
stdout until ``ready`` instead of sleeping and hoping.

The written config is runnable as it is: its ``[clock]`` table carries the simulated start,
the speed and the real anchor instant of this run, so ``headend run`` started later shares the
simulator's now (a head-end on the wall clock would bill December against a July fleet and set
every meter's clock months off); its ``[api]`` table names one token per role, each read from
the environment (``HEADEND_TOKEN_<ROLE>``) or, when unset, generated here and printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from headend.cli.errors import CommandFailed, ExitCode, UsageProblem
from headend.cli.simulate_archive import write_archive_rows
from headend.clock import WarpedClock

if TYPE_CHECKING:
    # The simulators bring numpy and pymodbus: imported by the handler, not at CLI start.
    from simulators.runner import Endpoints, ScenarioRunner
    from simulators.scenario import Scenario

READY = "ready"
"""The last line printed at start: everything listed above it is listening."""
API_LISTEN = "127.0.0.1:8080"
"""Where the written config's API listens (``headend run --listen`` overrides it)."""
TOKEN_ROLES = ("reader", "operator", "admin")
DRIFT_THRESHOLD_S = 30.0
"""The head-end's default clock drift threshold, kept at low speeds."""
DRIFT_REAL_S = 2.0
"""Real seconds of wire latency a clock check may see without it counting as drift."""


def token_variable(role: str) -> str:
    """The environment variable the written config reads the ``role`` token from."""
    return f"HEADEND_TOKEN_{role.upper()}"


@dataclass(frozen=True, slots=True)
class GeneratedToken:
    role: str
    variable: str
    secret: str
    generated: bool
    """True when made up here (then printed once), False when read from the environment."""


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
        "--start",
        metavar="WHEN",
        help=(
            "simulated start: HH:MM on the scenario's first day, or an ISO date-time "
            "(site time unless it has an offset); default the scenario's start"
        ),
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
        "--master",
        type=_broker,
        metavar="HOST:PORT",
        help=(
            "serve each transformer's meters through a Q/GDW 1376.1 concentrator that dials in "
            "to the master station at HOST:PORT (the written config's [master] listens there)"
        ),
    )
    parser.add_argument(
        "--dial-in",
        type=_broker,
        metavar="HOST:PORT",
        help=(
            "each bus's DTU dials in to the head-end's dial-in listener at HOST:PORT (with a "
            "registration and heartbeat packet) instead of listening; the written config's "
            "channels are dialin:// and its [dial_in] listens there"
        ),
    )
    parser.add_argument(
        "--late-day",
        type=date.fromisoformat,
        action="append",
        default=[],
        metavar="YYYY-MM-DD",
        help=(
            "with --master: the concentrators hold no record of that day at the first request "
            "(their carrier read failed), only when asked again (repeatable)"
        ),
    )
    parser.add_argument(
        "--terminal-drift",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=(
            "with --master: every concentrator's clock starts this far ahead (negative: behind), "
            "for the master's clock check and sync"
        ),
    )
    parser.add_argument(
        "--power-off",
        type=float,
        metavar="MINUTES",
        help="with --master: the concentrators were powered off for MINUTES up to the start "
        "(an ERC 14 event they push and the master raises as an alarm)",
    )
    parser.add_argument(
        "--unreachable-pn",
        type=int,
        action="append",
        default=[],
        metavar="PN",
        help="with --master: the concentrators cannot read the meter at PN (no frozen "
        "record, an ERC 31 event); repeatable",
    )
    parser.add_argument(
        "--write-config",
        type=Path,
        metavar="PATH",
        help="write the matching head-end fleet config (TOML) to PATH",
    )
    parser.add_argument(
        "--write-archive",
        type=Path,
        metavar="CSV",
        help="with --write-config: write the DL/T 645 meters as a meter archive CSV instead of "
        "[[meters]] tables (the config gets [archive]; import it: headend archive import CSV)",
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
    if not 0 < value < math.inf:  # the written [clock] refuses what the head-end cannot run
        raise argparse.ArgumentTypeError(f"must be > 0 and finite, got {text!r}")
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


def scenario_argument(text: str) -> Scenario:
    """The scenario a ``simulate`` or ``demo`` argument names: a bundled name or a file."""
    from simulators.scenario import ScenarioError, load_scenario

    unknown = _unknown_bundled_name(text)
    if unknown is not None:
        raise CommandFailed(ExitCode.USAGE, unknown)
    try:
        return load_scenario(text)
    except ScenarioError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from simulators.concentrator.community import ConcentratorPlan
    from simulators.runner import RunnerError, ScenarioRunner
    from simulators.scenario import ConcentratorSpec

    scenario = scenario_argument(args.scenario)
    for given, option in (
        (args.late_day, "--late-day"),
        (args.terminal_drift, "--terminal-drift"),
        (args.power_off is not None, "--power-off"),
        (args.unreachable_pn, "--unreachable-pn"),
    ):
        if given and args.master is None:
            raise UsageProblem(f"{option}: needs --master (it is a concentrator fault)")
    if scenario.concentrators is not None and args.master is None:
        raise UsageProblem(
            f"scenario {scenario.name} is read through concentrators ([concentrators]): "
            "give --master HOST:PORT, where the head-end's master station listens"
        )
    concentrators = None
    if args.master is not None:
        spec = scenario.concentrators or ConcentratorSpec()
        concentrators = ConcentratorPlan(
            args.master,
            heartbeat_s=spec.heartbeat_s,
            keeps_days=spec.keeps_days,
            late_days=dict.fromkeys(args.late_day, 1),
            clock_drift_s=args.terminal_drift,
            power_off_minutes=args.power_off,
            unreachable=tuple(args.unreachable_pn),
        )
    start = scenario.start if args.start is None else parse_start(args.start, scenario)
    if args.write_archive is not None and args.write_config is None:
        raise UsageProblem("--write-archive: needs --write-config (the fleet file it completes)")
    tokens = api_tokens(os.environ) if args.write_config is not None else ()
    # One clock for the simulators and, through the written [clock] table, for the head-end.
    clock = WarpedClock(start, args.speed)
    try:
        runner = ScenarioRunner(
            scenario,
            seed=args.seed,
            speed=args.speed,
            start=start,
            host=args.host,
            base_port=args.port_base,
            mqtt=args.mqtt,
            concentrators=concentrators,
            dial_in=args.dial_in,
            clock=clock.now,
        )
    except RunnerError as exc:
        raise UsageProblem(str(exc)) from None
    return asyncio.run(
        _serve(runner, clock, tokens, args.write_config, sys.stdout, args.write_archive)
    )


def parse_start(text: str, scenario: Scenario) -> datetime:
    """``--start``: ``HH:MM`` on the scenario's first local day, or an ISO date-time."""
    try:
        if len(text) <= 5 and ":" in text:
            hour, minute = (int(part) for part in text.split(":"))
            day = scenario.start.astimezone(scenario.utc_offset).date()
            return datetime.combine(day, time(hour, minute), scenario.utc_offset)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageProblem(
            f"--start: expected HH:MM or an ISO date-time such as 2026-07-16T00:10, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=scenario.utc_offset)
    return moment


def _told(out: TextIO, name: str, what: str) -> None:
    print(f"concentrator {name} {what}", file=out, flush=True)


def api_tokens(environ: Mapping[str, str]) -> tuple[GeneratedToken, ...]:
    """One token per role: from ``HEADEND_TOKEN_<ROLE>`` when set, else freshly generated.

    A secret from the environment is not checked here: ``headend run`` validates the tokens it
    loads and names the variable of a weak one.
    """
    tokens = []
    for role in TOKEN_ROLES:
        variable = token_variable(role)
        secret = environ.get(variable)
        if not secret:
            tokens.append(GeneratedToken(role, variable, secrets.token_urlsafe(24), generated=True))
        else:
            tokens.append(GeneratedToken(role, variable, secret, generated=False))
    return tuple(tokens)


async def _serve(
    runner: ScenarioRunner,
    clock: WarpedClock,
    tokens: tuple[GeneratedToken, ...],
    config_path: Path | None,
    out: TextIO,
    archive_path: Path | None = None,
) -> int:
    from simulators.fleet_export import archive_rows
    from simulators.runner import RunnerError

    stop = asyncio.Event()
    with _stop_on_signals(stop):
        try:
            async with runner:
                endpoints = runner.endpoints()
                if config_path is not None:
                    document = config_document(
                        runner.scenario, endpoints, clock, tokens, archive=archive_path is not None
                    )
                    _write_config(document, config_path)
                if archive_path is not None:
                    rows = archive_rows(runner.scenario, endpoints)
                    print(write_archive_rows(rows, archive_path), file=out, flush=True)
                for line in describe(runner, endpoints, config_path, tokens):
                    print(line, file=out, flush=True)
                for placed in endpoints.concentrators:  # what the master's commands did
                    placed.concentrator.on_command = partial(_told, out, placed.name)
                await stop.wait()
                print(f"stopping at simulated {_local(runner, runner.now())}", file=out, flush=True)
        except RunnerError as exc:
            raise CommandFailed(ExitCode.LINK_FAILED, str(exc)) from None
    return ExitCode.OK


def describe(
    runner: ScenarioRunner,
    endpoints: Endpoints,
    config_path: Path | None = None,
    tokens: tuple[GeneratedToken, ...] = (),
) -> Iterator[str]:
    """The start-up lines: one per bus gateway, the MQTT topics, simulated time, then ready."""
    scenario = runner.scenario
    yield (
        f"scenario {scenario.name}: {len(scenario.meters)} meters on {len(scenario.buses)} "
        f"buses, {len(scenario.transformers)} transformers (seed {runner.seed})"
    )
    for bus in scenario.buses:
        count = len(scenario.meters_on_bus(bus.id))
        calls = "" if endpoints.dial_in is None else " dials tcp://{}:{}".format(*endpoints.dial_in)
        yield f"bus {bus.id} {endpoints.buses[bus.id]} {bus.protocol} {count} meters{calls}"
    for transformer, meter in scenario.lv_meters:
        yield (
            f"lv {transformer.id} {endpoints.lv_meters[transformer.id]} modbus "
            f"{meter.register_map} unit {meter.unit_id}"
        )
    if endpoints.mqtt is None and scenario.transformers:
        yield f"no --mqtt: {len(scenario.transformers)} transformer terminal(s) not simulated"
    if endpoints.mqtt is not None:
        for terminal in endpoints.mqtt.terminals:
            yield (
                f"mqtt {endpoints.mqtt.url} transformer {terminal.transformer} "
                f"telemetry {terminal.telemetry} request {terminal.request} "
                f"response {terminal.response}"
            )
    if endpoints.master is not None:
        host, port = endpoints.master
        for placed in endpoints.concentrators:
            yield (
                f"concentrator {placed.name} {placed.key} transformer {placed.transformer} "
                f"{len(placed.meters)} meters dials tcp://{host}:{port}"
            )
    if config_path is not None:
        yield f"fleet config {config_path}"
        for token in tokens:
            if token.generated:
                yield f"api token {token.role}: export {token.variable}={token.secret}"
            else:
                yield f"api token {token.role}: from ${token.variable}"
    yield f"simulated time {_local(runner, runner.now())} speed {runner.speed:g}x"
    yield READY


def _local(runner: ScenarioRunner, moment: datetime) -> str:
    return moment.astimezone(runner.scenario.utc_offset).isoformat(timespec="seconds")


def config_document(
    scenario: Scenario,
    endpoints: Endpoints,
    clock: WarpedClock,
    tokens: tuple[GeneratedToken, ...],
    *,
    archive: bool = False,
) -> dict[str, Any]:
    """The fleet document ``headend run`` can start from as it is (``archive``: its DL/T 645
    meters come from the meter archive, ``--write-archive``)."""
    from simulators.fleet_export import fleet_config_for

    api = {
        "listen": API_LISTEN,
        "tokens": [
            {"name": token.role, "role": token.role, "token_env": token.variable}
            for token in tokens
        ],
    }
    shared_clock = {
        "start": clock.start,
        "speed": clock.speed,
        "anchor": clock.anchor,
        # A clock read takes a few tenths of a real second on a 2400-baud bus: at 60x that is
        # tens of simulated seconds of apparent drift, which must not trigger a clock set.
        "drift_threshold": f"{max(DRIFT_THRESHOLD_S, DRIFT_REAL_S * clock.speed):g}s",
    }
    return fleet_config_for(
        scenario, endpoints, clock=shared_clock, api=api, speed=clock.speed, archive=archive
    )


def _write_config(document: dict[str, Any], path: Path) -> None:
    from simulators.fleet_export import dump_toml

    text = dump_toml(document)
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
