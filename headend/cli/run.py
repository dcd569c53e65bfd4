"""``headend run --config fleet.toml``: the production service (collection, storage, API)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from headend.cli.args import listen_address
from headend.cli.errors import CommandFailed, ExitCode, run_service
from headend.clock import Clock, WarpedClock
from headend.config.errors import ConfigError

if TYPE_CHECKING:
    from headend.config.fleet import ClockConfig, FleetConfig


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the head-end: collection, storage, HTTP API and dashboard",
        description="Collect every meter of the fleet config, store readings, serve the API.",
    )
    parser.add_argument("--config", required=True, type=Path, help="fleet TOML file")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="embedded store, outbox and audit log (default: ./var)",
    )
    parser.add_argument(
        "--listen", type=listen_address, help="host:port for the API (overrides [api] listen)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the fleet file and the environment variables it names, then exit",
    )
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    # The fleet file's models bring pydantic: only for this command.
    from headend.config.archive_meters import with_archive_meters
    from headend.config.fleet import load_fleet_config

    try:
        config = load_fleet_config(args.config)
        clock = shared_clock(config.clock)
        today = site_today(config, clock)
        config = with_archive_meters(config, args.data_dir, today)
    except ConfigError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None
    if args.check:
        return check(config)
    # The service brings numpy, FastAPI, uvicorn and the storage clients: only now.
    from headend.service import ServiceOptions, serve

    options = ServiceOptions(data_dir=args.data_dir, listen=args.listen, clock=clock)

    async def ready(url: str) -> None:
        if isinstance(clock, WarpedClock):
            print(
                f"simulated time {clock.now().isoformat(timespec='seconds')} "
                f"speed {clock.speed:g}x",
                flush=True,
            )
        print(f"head-end running: dashboard and API at {url}", flush=True)

    run_service(serve(config, options, on_ready=ready))
    return ExitCode.OK


def check(config: FleetConfig) -> int:
    """What ``run`` would refuse before collecting: the file (already loaded), the secrets its
    ``[api]``, ``[storage]``, ``[security]`` and ``[notify]`` tables name (the security module
    is built), and a warning for meters that take secured control with no module to seal for
    them. Opens no bus, store or port."""
    from headend.collection.storage_setup import storage_secret
    from headend.config.security import build_security_module
    from headend.drivers.base import Capability
    from headend.drivers.registry import driver_for
    from headend.incidents.notifier import webhooks_of
    from headend.service import api_settings

    try:
        api_settings(config, os.environ)
        storage_secret(config.storage, config.source)
        if config.security is not None:
            build_security_module(config.security, os.environ, config.source)
        if config.handoff is not None:
            from headend.config.handoff import webhook_authorization

            webhook_authorization(config.handoff, os.environ, config.source)
        webhooks_of(config.notify, os.environ, config.source)
    except ConfigError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None
    if config.security is None:
        secured = [
            m.id
            for m in config.meters.values()
            if m.control == "secured" and driver_for(m.protocol).supports(Capability.RELAY)
        ]
        if secured:
            print(
                f"{config.source}: warning: {len(secured)} meters take secured control "
                f'(control = "secured", the default; e.g. {secured[0]}) but no [security] '
                "module is named: their relay and admin orders will be refused (set "
                '[security], or control = "plaintext" for meters that take plaintext orders)',
                file=sys.stderr,
                flush=True,
            )
    behind = sum(len(t.meters) for t in config.terminals.values())
    terminals = f", {behind} behind {len(config.terminals)} terminals" if config.terminals else ""
    print(
        f"{config.source}: ok, {len(config.meters)} meters on {len(config.channels)} channels"
        + terminals,
        flush=True,
    )
    return ExitCode.OK


def site_today(config: FleetConfig, clock: Clock | None) -> date:
    """The site's local day now (simulated with ``[clock] start``): which archive meters are
    in service and collected."""
    now = clock.now() if clock is not None else datetime.now(UTC)
    return now.astimezone(ZoneInfo(config.timezone)).date()


def shared_clock(config: ClockConfig) -> Clock | None:
    """The simulated clock ``[clock] start`` asks for, or None for the wall clock."""
    if config.start is None:
        return None
    return WarpedClock(config.start, config.speed, config.anchor)
