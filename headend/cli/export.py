"""``headend export handoff --day D``: run the daily hand-off of one day by hand.

For a day the schedule missed (before the hand-off was configured) or one billing asks for
again: the day's daily hand-off if it has none, else a correction holding what changed since
its last one, written to the ``[handoff]`` folder and recorded in the same ledger the running
head-end uses (``<data-dir>/handoffs.sqlite``), so its webhook sender delivers it if the
attempt made here fails. Safe next to a running ``headend run``: the store is SQLite in WAL
mode and the ledger's writes are transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from headend.cli.errors import CommandFailed, ExitCode

if TYPE_CHECKING:
    from headend.config.fleet import FleetConfig


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "export",
        help="billing exports by hand: the daily hand-off of one day",
        description="Billing exports run by hand (docs/exports.md).",
    )
    parser.set_defaults(handler=_no_action, parser=parser)
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    handoff = actions.add_parser(
        "handoff",
        help="hand off one day now (its daily hand-off, or a correction of what changed)",
        description=(
            "Write the day's settlement reads and KPI report to the [handoff] folder and POST "
            "them to its webhook, as the schedule does (docs/exports.md)."
        ),
    )
    handoff.add_argument("--config", required=True, type=Path, help="fleet TOML file")
    handoff.add_argument(
        "--data-dir", type=Path, default=Path("var"), help="the head-end's data dir (default ./var)"
    )
    handoff.add_argument(
        "--day",
        required=True,
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="billing's day: the local date of the freeze (00:00) to hand off",
    )
    handoff.set_defaults(handler=run_handoff, parser=handoff)


def _no_action(args: argparse.Namespace) -> int:
    args.parser.print_help(sys.stderr)
    return ExitCode.USAGE


def run_handoff(args: argparse.Namespace) -> int:
    from headend.config.errors import ConfigError
    from headend.config.fleet import load_fleet_config
    from headend.config.handoff import webhook_authorization

    try:
        config = load_fleet_config(args.config)
        if config.handoff is None:
            raise ConfigError(args.config, "handoff", "no [handoff] table: nowhere to hand off to")
        authorization = webhook_authorization(config.handoff, os.environ, config.source)
    except ConfigError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None
    print(asyncio.run(_hand_off(config, args.data_dir, args.day, authorization)), flush=True)
    return ExitCode.OK


async def _hand_off(
    config: FleetConfig, data_dir: Path, day: date, authorization: str | None
) -> str:
    import aiohttp

    from headend.clock import SystemClock
    from headend.collection.handoff import handoff_for
    from headend.collection.kpi_snapshots import snapshots_for
    from headend.collection.registry import MeterRegistry
    from headend.collection.storage_setup import open_storage
    from storage.archive.store import ARCHIVE_FILE
    from storage.errors import StorageError
    from storage.kpi.store import KPI_FILE

    clock = SystemClock()
    registry = MeterRegistry(config)
    archive = data_dir / ARCHIVE_FILE
    async with open_storage(config.storage, config.source, data_dir=data_dir) as stack:
        kpi = snapshots_for(
            config, registry, stack.billing, clock, data_dir / KPI_FILE, archive, 3600.0
        )
        handoff = handoff_for(
            config, stack.billing, clock, data_dir, kpi, registry, archive, authorization
        )
        if handoff is None:
            raise CommandFailed(ExitCode.USAGE, "[handoff] needs the embedded store")
        try:
            made = await handoff.run_day(day)
        except ValueError as exc:
            raise CommandFailed(ExitCode.USAGE, f"--day: {exc}") from None
        except StorageError as exc:
            raise CommandFailed(ExitCode.USAGE, str(exc)) from None
        if made is None:
            return f"{day}: nothing changed since its last hand-off: nothing handed off"
        said = (
            f"hand-off of {made.day} #{made.sequence} ({made.kind.value}): {made.rows} reads, "
            f"{', '.join(str(handoff.folder / name) for name in made.files)}"
        )
        if handoff.webhook is not None:
            async with aiohttp.ClientSession() as session:
                sent = await handoff.webhook.deliver_pending(session)
            said += (
                "; webhook: delivered"
                if sent
                else f"; webhook: pending ({handoff.webhook.stats.last_error}), the running "
                "head-end retries it"
            )
        return said
