"""``headend read``: one-off reads at the meter box, one protocol per sub-subcommand.

Each protocol registers its own parser (``read_dlt645``, ``read_modbus``); this module
only groups them and answers the "what can I ask for?" questions (``--list-maps``,
``--list-quantities``) that need no meter.
"""

from __future__ import annotations

import argparse

from headend.cli import read_dlt645, read_modbus
from headend.cli.errors import ExitCode, UsageProblem
from headend.drivers.dlt645.editions import STANDARDS
from protocols.dlt645 import DataItem, catalogue
from protocols.modbus import builtin_map_description, builtin_map_names


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "read",
        help="read a meter once and print its values",
        description="Read one meter once (DL/T 645 or Modbus) and print values with units.",
    )
    parser.add_argument(
        "--list-maps", action="store_true", help="list the shipped Modbus register maps"
    )
    parser.add_argument(
        "--list-quantities",
        nargs="?",
        const="dlt645-2007",
        metavar="SOURCE",
        help="list readable quantities of dlt645-2007 (default), dlt645-1997 or a register map",
    )
    protocols = parser.add_subparsers(title="protocols", metavar="PROTOCOL")
    read_dlt645.register(protocols)
    read_modbus.register(protocols)
    parser.set_defaults(handler=_lists, parser=parser)


def _lists(args: argparse.Namespace) -> int:
    """``headend read`` without a protocol: the listing helpers, else usage help."""
    if args.list_maps:
        for name in builtin_map_names():
            description = builtin_map_description(name)
            print(f"{name}  {description}".rstrip())
        return ExitCode.OK
    if args.list_quantities is not None:
        _list_quantities(args.list_quantities)
        return ExitCode.OK
    raise UsageProblem("choose a protocol (dlt645 or modbus), --list-maps or --list-quantities")


def _list_quantities(source: str) -> None:
    standard = STANDARDS.get(source)
    if standard is None:
        register_map = read_modbus.resolve_map(source)
        for point in register_map.points:
            print(f"{point.quantity:<40} {point.unit:<6} {point.table} 0x{point.address:04X}")
        return
    width = 2 * standard.di_length
    for item in catalogue(standard):
        print(f"{item.di:0{width}X}  {item.name:<36} {item.unit:<5}{_shape(item)}".rstrip())


def _shape(item: DataItem) -> str:
    """What one reply holds: a block's members (a tariff block in short), a record's fields."""
    text = ""
    if item.is_block:
        members = item.members
        shown = members if len(members) <= 8 else (*members[:3], "...", members[-1])
        text += f"  block: {', '.join(shown)}"
    if item.is_record:
        text += f"  record: {', '.join(part.suffix or '(value)' for part in item.parts)}"
    if item.history:
        text += f"  periods 1..{item.history}"
    return text
