"""``headend archive exchange OLD NEW --at ... --old-final ... --new-initial ...``: record a
meter exchange (换表) in the archive, as the field crew's work order has it.

Why a command of its own: an exchange must be in the archive before the old meter's last days
are billed, or the new meter's register (restarting near 0) reads as a huge negative day.
The reads are per register, ``QUANTITY=VALUE`` (``total``, ``t1`` .. ``t63`` or a full
register name); a bare number is the total import. The archive refuses an unknown old meter,
a meter exchanged twice and an exchange time without a UTC offset, and the command exits 2
with the reason.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from headend.cli.errors import CommandFailed, ExitCode


def register_exchange(actions: Any) -> None:
    """Add ``exchange`` to the ``headend archive`` actions."""
    parser: argparse.ArgumentParser = actions.add_parser(
        "exchange",
        help="record a meter exchange (换表): the old meter's final reads, the new one's first",
        description=(
            "Date the old meter's removal and the new meter's install and keep both meters' "
            "reads, so consumption across the exchange is old-final - old-start + new-end - "
            "new-initial (docs/archive.md)."
        ),
    )
    parser.add_argument("old", help="id of the meter taken out")
    parser.add_argument("new", help="id of the meter put in")
    parser.add_argument(
        "--at", required=True, help="when, ISO with an offset: 2026-06-20T10:30+08:00"
    )
    parser.add_argument(
        "--old-final",
        action="append",
        required=True,
        metavar="QUANTITY=KWH",
        help="old meter's final read (repeatable; total, t1..t4 or a register name)",
    )
    parser.add_argument(
        "--new-initial",
        action="append",
        required=True,
        metavar="QUANTITY=KWH",
        help="new meter's first read (repeatable)",
    )
    parser.add_argument(
        "--new-address", help="the new meter's address, when the archive does not list it yet"
    )
    parser.add_argument("--reason", default="", help="why (display fault, upgrade...)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="the head-end's data dir holding archive.sqlite (default: ./var)",
    )
    parser.set_defaults(handler=run_exchange, parser=parser)


def parse_reads(values: list[str], option: str) -> dict[str, float]:
    """``QUANTITY=KWH`` (or a bare number: the total) per register, checked as the API checks
    them (``storage.archive.exchange_input.checked_reads``); the total is required."""
    from storage.archive.exchange_input import checked_reads, register_name
    from storage.errors import ArchiveError

    reads: dict[str, float] = {}
    for text in values:
        name, _, number = text.rpartition("=")
        quantity = register_name(name or "total")
        try:
            value = float(number)
        except ValueError:
            raise CommandFailed(
                ExitCode.USAGE, f"{option} {text}: {number!r} is not a number of kWh"
            ) from None
        if quantity in reads:
            raise CommandFailed(ExitCode.USAGE, f"{option}: {quantity} given twice")
        reads[quantity] = value
    try:
        return checked_reads(reads, option)
    except ArchiveError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None


def run_exchange(args: argparse.Namespace) -> int:
    from headend.cli.archive import cli_audit, cli_user
    from headend.commands.archive_changes import exchange_meters
    from storage.archive.records import MeterExchange
    from storage.archive.store import ARCHIVE_FILE
    from storage.errors import ArchiveError

    try:
        at = datetime.fromisoformat(args.at)
    except ValueError:
        raise CommandFailed(ExitCode.USAGE, f"--at {args.at}: not an ISO date-time") from None
    if at.tzinfo is None:
        raise CommandFailed(ExitCode.USAGE, f"--at {args.at}: needs a UTC offset (+08:00)")
    exchange = MeterExchange(
        args.old,
        args.new,
        at,
        parse_reads(args.old_final, "--old-final"),
        parse_reads(args.new_initial, "--new-initial"),
        reason=args.reason,
    )
    path = Path(args.data_dir) / ARCHIVE_FILE
    if not path.exists():
        raise CommandFailed(ExitCode.USAGE, f"{args.data_dir}: no {ARCHIVE_FILE}; import first")
    try:
        exchange_meters(
            cli_audit(args.data_dir),
            path,
            exchange,
            new_address=args.new_address,
            user=cli_user(),
            now=datetime.now(UTC),
        )
    except ArchiveError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None
    print(
        f"exchange recorded: {args.old} -> {args.new} at {at.isoformat()}"
        f" ({len(exchange.old_final)} final, {len(exchange.new_initial)} initial reads)"
    )
    return ExitCode.OK
