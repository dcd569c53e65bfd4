"""``headend read modbus``: read a Modbus meter through one of the shipped register maps.

The register map decides which requests go out (coalesced by the planner) and how registers
become values, so the command reads exactly what the collector would. CT/PT ratios default to
1 (secondary values, as the meter reports them); the map's ``ct_ratio``/``pt_ratio`` points,
read along with everything else, show what the meter itself is configured with.

A request the meter fails (a block its firmware does not have) is a row per point with the
reason, the other requests are still read and printed, and the exit code is 8 (partial); only
when nothing was answered does the command exit with that failure's own code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headend.cli.args import duration, ratio, unit_id
from headend.cli.errors import CommandFailed, ExitCode, UsageProblem
from headend.cli.output import Row, format_number, not_available, write_json, write_table
from protocols.modbus import (
    ENERGY_BASE,
    PointResult,
    Ratios,
    ReadPlan,
    RegisterMap,
    RegisterMapError,
    UnknownQuantityError,
    builtin_map_names,
    builtin_register_map,
    plan_reads,
)
from transports import InvalidTransportUrl, OpenFailed

if TYPE_CHECKING:
    from headend.drivers.modbus import ModbusAdapterError, ModbusTarget
    from headend.drivers.modbus.outcome import PlanOutcome


def register(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = protocols.add_parser(
        "modbus",
        help="read a Modbus meter (TCP, RTU over a TCP gateway, or a serial port)",
        description="Read quantities of one Modbus meter through a shipped register map.",
        epilog=(
            "examples:\n"
            "  headend read modbus tcp://10.0.0.7:502 --unit 1 --map dtsu666\n"
            "  headend read modbus rtu+tcp://10.0.0.5:8899 --unit 3 --map dtsu666 "
            "--quantity voltage_a --ct 40\n"
            "  headend read modbus 'serial:///dev/ttyUSB0?baud=9600&parity=N' --map sdm120\n"
            "URLs: tcp:// is Modbus TCP, rtu+tcp:// RTU through a transparent gateway, "
            "serial:// RTU (default 19200 8E1)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="tcp://host:port, rtu+tcp://host:port or serial:///dev/...")
    parser.add_argument("--unit", type=unit_id, default=1, help="Modbus unit id (default 1)")
    parser.add_argument(
        "--map",
        required=True,
        metavar="NAME",
        help=f"register map: {', '.join(builtin_map_names())} (unique suffix such as dtsu666 ok)",
    )
    parser.add_argument(
        "--quantity",
        dest="quantities",
        action="append",
        metavar="NAME",
        help="quantity to read (repeatable; default: every quantity of the map)",
    )
    parser.add_argument(
        "--energy-base",
        type=register_address,
        metavar="ADDRESS",
        help="where the meter's energy block starts when not at the map's address "
        "(DTSU666: 0x401E by default, 0x101E on some firmware)",
    )
    parser.add_argument("--ct", type=ratio, default=1.0, help="current transformer ratio")
    parser.add_argument("--pt", type=ratio, default=1.0, help="voltage transformer ratio")
    parser.add_argument(
        "--timeout",
        type=duration,
        default=1.0,
        metavar="DURATION",
        help="how long to wait for each reply, e.g. 500ms or 2s (default 1s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run, parser=parser)


def register_address(text: str) -> int:
    """A register address, decimal or ``0x`` hex (as manuals print them)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an address such as 0x101E, got {text!r}"
        ) from None
    if not 0 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"address {text} is outside 0..0xFFFF")
    return value


def resolve_map(name: str, energy_base: int | None = None) -> RegisterMap:
    """A shipped map by file name, or by the unique name it ends with (``dtsu666``)."""
    names = builtin_map_names()
    if name not in names:
        matches = [known for known in names if known.endswith(f"_{name}")]
        if len(matches) != 1:
            raise UsageProblem(f"--map {name}: no such register map (have: {', '.join(names)})")
        name = matches[0]
    register_map = _shipped(name)
    if energy_base is None:
        return register_map
    if ENERGY_BASE not in register_map.bases:
        raise UsageProblem(f"--energy-base: map {name} has no movable energy block")
    try:
        return register_map.with_bases({ENERGY_BASE: energy_base})
    except RegisterMapError as exc:
        raise UsageProblem(f"--energy-base 0x{energy_base:04X}: {exc}") from None


def _shipped(name: str) -> RegisterMap:
    try:
        return builtin_register_map(name)
    except RegisterMapError as exc:  # pragma: no cover - shipped maps are checked in CI
        raise UsageProblem(f"--map {name}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    register_map = resolve_map(args.map, args.energy_base)
    quantities: Sequence[str] = args.quantities or register_map.quantities
    try:
        plan = plan_reads(register_map, quantities)
    except UnknownQuantityError as exc:
        raise UsageProblem(f"--quantity: {exc}") from None
    # pymodbus sits behind the adapter and costs ~0.3 s to import: only for an actual read.
    from headend.drivers.modbus.reader import modbus_target

    try:
        target = modbus_target(args.url)
    except (InvalidTransportUrl, OpenFailed) as exc:
        raise UsageProblem(str(exc)) from None
    ratios = Ratios(args.ct, args.pt)
    outcome = asyncio.run(_read(target, args.timeout, args.unit, plan, ratios, args.url))
    results = outcome.results
    rows = [_row(results[quantity], register_map) for quantity in quantities]
    if args.json:
        header: dict[str, int | float | str | None] = {
            "protocol": "modbus",
            "url": args.url,
            "unit": args.unit,
            "map": register_map.name,
        }
        write_json(header, rows, sys.stdout)
    else:
        write_table(rows, sys.stdout)
    if outcome.failures:
        for failure in outcome.failures:
            print(f"{args.url}: unit {args.unit}: {failure.describe()}", file=sys.stderr)
        read = sum(1 for row in rows if row.value is not None)
        print(
            f"{args.url}: partial read: {len(outcome.failures)} of {outcome.requests} request(s) "
            f"failed, {read} of {len(rows)} value(s) read",
            file=sys.stderr,
        )
        return ExitCode.PARTIAL
    return ExitCode.OK


async def _read(
    target: ModbusTarget,
    reply_timeout: float,
    unit: int,
    plan: ReadPlan,
    ratios: Ratios,
    url: str,
) -> PlanOutcome:
    from headend.drivers.modbus import ModbusAdapter, ModbusAdapterError, ModbusConnectionError

    adapter = ModbusAdapter(target, timeout=reply_timeout)  # pymodbus wants the running loop
    try:
        await adapter.open()
    except ModbusConnectionError as exc:
        raise CommandFailed(ExitCode.LINK_FAILED, f"cannot open {url}: {exc}") from None
    try:
        outcome = await adapter.read_plan(unit, plan, ratios)
    except ModbusAdapterError as exc:
        raise _failure(exc, url) from None
    finally:
        await adapter.close()
    if outcome.nothing_read and outcome.failures:
        raise _failure(outcome.failures[0].error, url)
    return outcome


def _failure(exc: ModbusAdapterError, url: str) -> CommandFailed:
    from headend.drivers.modbus import (
        ModbusConnectionError,
        ModbusExceptionResponseError,
        ModbusTimeoutError,
        ModbusUsageError,
    )

    if isinstance(exc, ModbusUsageError):
        return UsageProblem(f"{url}: {exc}")
    if isinstance(exc, ModbusTimeoutError):
        return CommandFailed(ExitCode.NO_REPLY, f"{url}: {exc}")
    if isinstance(exc, ModbusExceptionResponseError):
        return CommandFailed(ExitCode.METER_ERROR, f"{url}: {exc}")
    if isinstance(exc, ModbusConnectionError):
        return CommandFailed(ExitCode.LINK_FAILED, f"{url}: {exc}")
    return CommandFailed(ExitCode.BAD_REPLY, f"{url}: {exc}")


def _row(result: PointResult, register_map: RegisterMap) -> Row:
    point = register_map.point(result.quantity)
    source = f"{point.table} 0x{point.address:04X}"
    if result.value is None:
        reason = str(result.reason or "not_available")
        return not_available(result.quantity, reason, unit=result.unit, source=source)
    return Row(result.quantity, format_number(result.value), result.value, result.unit, source)
