"""``headend read modbus``: read a Modbus meter through one of the shipped register maps.

The register map decides which requests go out (coalesced by the planner) and how registers
become values, so the command reads exactly what the collector would. CT/PT ratios default to
1 (secondary values, as the meter reports them); the map's ``ct_ratio``/``pt_ratio`` points,
read along with everything else, show what the meter itself is configured with.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from headend.cli.args import duration, ratio, unit_id
from headend.cli.errors import CommandFailed, ExitCode, UsageProblem
from headend.cli.output import Row, format_number, not_available, write_json, write_table
from protocols.modbus import (
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


def resolve_map(name: str) -> RegisterMap:
    """A shipped map by file name, or by the unique name it ends with (``dtsu666``)."""
    names = builtin_map_names()
    if name not in names:
        matches = [known for known in names if known.endswith(f"_{name}")]
        if len(matches) != 1:
            raise UsageProblem(f"--map {name}: no such register map (have: {', '.join(names)})")
        name = matches[0]
    try:
        return builtin_register_map(name)
    except RegisterMapError as exc:  # pragma: no cover - shipped maps are checked in CI
        raise UsageProblem(f"--map {name}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    register_map = resolve_map(args.map)
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
    results = asyncio.run(_read(target, args.timeout, args.unit, plan, ratios, args.url))
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
    return ExitCode.OK


async def _read(
    target: ModbusTarget,
    reply_timeout: float,
    unit: int,
    plan: ReadPlan,
    ratios: Ratios,
    url: str,
) -> Mapping[str, PointResult]:
    from headend.drivers.modbus import ModbusAdapter, ModbusAdapterError, ModbusConnectionError

    adapter = ModbusAdapter(target, timeout=reply_timeout)  # pymodbus wants the running loop
    try:
        await adapter.open()
    except ModbusConnectionError as exc:
        raise CommandFailed(ExitCode.LINK_FAILED, f"cannot open {url}: {exc}") from None
    try:
        return await adapter.read_points(unit, plan, ratios)
    except ModbusAdapterError as exc:
        raise _failure(exc, url) from None
    finally:
        await adapter.close()


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
