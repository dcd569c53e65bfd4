"""``headend read dlt645``: read identifiers from one meter, or find the address of the only one.

Everything on the wire goes through the head-end's own session code (``read_payload``,
``exchange``) over a ``BusLink``, so what an engineer sees at the meter box is exactly what
the collector would get, and ``--raw`` shows the link's frame history in hex.

A meter refusing one identifier does not stop the others (the refusal is printed in its row
and the exit code says so at the end); a meter that does not answer at all, or a link that
drops, stops at once because every further request would wait out the same timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from headend.bus.link import DEFAULT_INTER_FRAME_GAP, BusLink
from headend.cli.args import data_identifier, duration, meter_address
from headend.cli.dlt645_values import di_label, rows_for
from headend.cli.errors import CommandFailed, ExitCode, UsageProblem, exit_code_for
from headend.cli.frames import reassemble
from headend.cli.output import Row, not_available, write_json, write_table, write_traffic
from headend.cli.read_load_profile import query_of, read_load_profile
from headend.drivers.dlt645.editions import protocol_name
from headend.drivers.dlt645.search import Progress, address_in, search
from headend.drivers.dlt645.session import exchange, read_payload, refused
from headend.errors import ReadFailed
from protocols.dlt645 import (
    Address,
    DataItem,
    EncodeError,
    ErrorResponse,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadRequest,
    ReadResponse,
    Standard,
    UnexpectedMessage,
    UnknownIdentifier,
    catalogue,
)
from storage.records import FailureReason
from transports import (
    ConnectionLost,
    InvalidTransportUrl,
    OpenFailed,
    create_transport,
    opened,
)

"""Silence kept between frames; the fleet configuration's default ``inter_frame_gap``."""
_PERIOD = re.compile(r"(\w+)\[(\d{1,3})\]")
"""``NAME[N]``: period N of an item with history (N days, settlement periods or events ago)."""
ADDRESS_DI_1997 = 0xC032
"""1997 has no read-address command: a wildcard read of the meter-address item does the job."""
SCAN_WARNING = (
    "scan: asking with wildcard address AAAAAAAAAAAA; this only works with ONE meter on the "
    "bus (several meters answer at once and garble the reply)"
)


@dataclass(frozen=True, slots=True)
class Wanted:
    """One identifier to read, in command-line order; ``item`` is None outside the catalogue."""

    di: int
    item: DataItem | None
    asked_as: str


def register(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = protocols.add_parser(
        "dlt645",
        help="read a DL/T 645 meter (serial port or transparent TCP gateway)",
        description=(
            "Read data identifiers from one DL/T 645 meter and print them with units,\n"
            "or find the address of the single meter on a bus with --scan."
        ),
        epilog=(
            "examples:\n"
            "  headend read dlt645 tcp://10.0.0.5:8899 --address 123456789012 --di 00010000\n"
            "  headend read dlt645 serial:///dev/ttyUSB0 --address 123456789012 "
            "--quantity voltage --raw\n"
            "  headend read dlt645 'serial:///dev/ttyUSB0?baud=1200' --standard 1997 --scan\n"
            "  headend read dlt645 tcp://10.0.0.5:8899 --search\n"
            "  headend read dlt645 tcp://10.0.0.5:8899 --address 123456789012 "
            "--load-profile 2026-12-02T00:00 96\n"
            "serial defaults: 2007 2400 8E1, 1997 1200 8E1 (override in the URL: ?baud=9600)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="serial:///dev/ttyUSB0[?baud=2400&parity=E] or tcp://host:port")
    parser.add_argument(
        "--address", type=meter_address, help="12-digit meter address as on the nameplate"
    )
    parser.add_argument(
        "--di",
        dest="items",
        action="append",
        type=_di_option,
        metavar="HEX",
        help="data identifier to read, e.g. 00010000 or block 0201FF00 (repeatable)",
    )
    parser.add_argument(
        "--quantity",
        dest="items",
        action="append",
        type=_quantity_option,
        metavar="NAME",
        help=(
            "catalogue name to read, e.g. voltage_a or voltage; NAME[N] for period N of a "
            "history item, e.g. settlement_energy_active_import[3] (repeatable)"
        ),
    )
    parser.add_argument(
        "--load-profile",
        nargs=2,
        metavar=("START", "COUNT"),
        help="read COUNT load profile records (负荷记录, 06000001) from START, the meter's "
        "wall-clock time, e.g. 2026-12-02T06:00 96",
    )
    parser.add_argument(
        "--profile-class",
        type=int,
        choices=range(7),
        default=0,
        metavar="N",
        help="with --load-profile: only class N (1 voltage/current/frequency, 2 power, "
        "3 power factor, 4 energy, 5 quadrant reactive, 6 demand; default 0: all)",
    )
    parser.add_argument(
        "--scan",
        action="store_true",
        help="find the address of the only meter on the bus (wildcard read address)",
    )
    parser.add_argument(
        "--search",
        action="store_true",
        help="find every meter on the bus (搜表: wildcard digits narrowed where replies "
        "collide), with progress on stderr",
    )
    parser.add_argument(
        "--standard",
        type=int,
        choices=(2007, 1997),
        default=2007,
        help="DL/T 645 edition (default 2007)",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=1.0,
        metavar="DURATION",
        help="how long to wait for each reply, e.g. 500ms or 2s (default 1s)",
    )
    parser.add_argument(
        "--raw", action="store_true", help="also print every frame sent and received, in hex"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run, parser=parser)


def _di_option(text: str) -> tuple[str, str]:
    return ("di", data_identifier(text))


def _quantity_option(text: str) -> tuple[str, str]:
    return ("quantity", text.strip())


def run(args: argparse.Namespace) -> int:
    standard = Standard(args.standard)
    wanted = _check_arguments(args, standard)
    header: dict[str, int | float | str | None] = {
        "protocol": protocol_name(standard),
        "url": args.url,
        "meter": None if args.scan or args.search else str(args.address),
    }
    if args.scan:
        print(SCAN_WARNING, file=sys.stderr)
    rows, failure, link = asyncio.run(_session(args, standard, wanted))
    traffic = reassemble(link.traffic) if link is not None else []
    if args.json:
        write_json(header, rows, sys.stdout, traffic=traffic if args.raw else None)
    else:
        if args.raw:
            write_traffic(traffic, sys.stdout)
        write_table(rows, sys.stdout)
    if failure is not None:
        raise failure
    return ExitCode.OK


def _check_arguments(args: argparse.Namespace, standard: Standard) -> list[Wanted]:
    items: list[tuple[str, str]] = args.items or []
    if args.search:
        if items or args.address is not None or args.scan:
            raise UsageProblem("--search finds every address: give no --address, --di, --quantity")
        return []
    if args.scan:
        if items or args.address is not None:
            raise UsageProblem("--scan finds the address: give no --address, --di or --quantity")
        return []
    if args.address is None:
        raise UsageProblem("--address is required (or use --scan to find it)")
    if args.load_profile:
        if items or standard is not Standard.DLT645_2007:
            raise UsageProblem("--load-profile is a DL/T 645-2007 read: give no --di, --quantity")
        query_of(args)
        return []
    if not items:
        raise UsageProblem("nothing to read: give at least one --di or --quantity")
    table = catalogue(standard)
    wanted: list[Wanted] = []
    for kind, text in items:
        if kind == "quantity":
            name, period = _name_and_period(text)
            try:
                item = table.by_name(name)
                di = item.di_for(period) if period is not None else item.di
            except (UnknownIdentifier, EncodeError) as exc:
                raise UsageProblem(f"--quantity {text}: {exc}") from None
            wanted.append(Wanted(di, item, text))
            continue
        if len(text) != 2 * standard.di_length:
            raise UsageProblem(
                f"--di {text}: DL/T 645-{standard.value} identifiers have "
                f"{2 * standard.di_length} hex digits"
            )
        di = int(text, 16)
        wanted.append(Wanted(di, table.lookup(di) if di in table else None, text))
    return wanted


def _name_and_period(text: str) -> tuple[str, int | None]:
    """``settlement_energy_active_import[3]``: a past period by name, as the rows print it."""
    match = _PERIOD.fullmatch(text)
    if match is None:
        return text, None
    return match.group(1), int(match.group(2))


async def _session(
    args: argparse.Namespace, standard: Standard, wanted: Sequence[Wanted]
) -> tuple[list[Row], CommandFailed | None, BusLink | None]:
    try:
        transport = create_transport(args.url, protocol=protocol_name(standard))
    except InvalidTransportUrl as exc:
        raise UsageProblem(str(exc)) from None
    link = BusLink(transport, gap=DEFAULT_INTER_FRAME_GAP)
    try:
        async with opened(transport):
            if args.search:
                rows, failure = await _search(link, standard, args)
            elif args.scan:
                rows, failure = await _scan(link, standard, args)
            elif args.load_profile:
                rows, failure = await read_load_profile(link, args.address, query_of(args), args)
            else:
                rows, failure = await _read(link, args.address, standard, wanted, args)
    except OpenFailed as exc:
        return [], CommandFailed(ExitCode.LINK_FAILED, f"cannot open {args.url}: {exc}"), link
    return rows, failure, link


async def _read(
    link: BusLink,
    address: Address,
    standard: Standard,
    wanted: Sequence[Wanted],
    args: argparse.Namespace,
) -> tuple[list[Row], CommandFailed | None]:
    """Every identifier in turn. One that fails (refused, silent, unusable reply) is a row
    with its reason and the others are still read, as for Modbus: exit 8 (partial) when some
    answered; the failure's own code when none did. A silent first identifier stops the read
    (a meter that is not there would cost a timeout per identifier), as does a lost link."""
    rows: list[Row] = []
    failures: list[tuple[ExitCode, str]] = []
    answered = 0
    for target in wanted:
        label = di_label(target.di, standard)
        what = f"DI {label}" + (f" ({target.item.name})" if target.item else "")
        name = target.item.name if target.item else label
        try:
            payload = await read_payload(
                link, address, target.di, standard, reply_timeout=args.timeout
            )
            read_rows = rows_for(target.item, target.di, payload, standard)
        except ReadFailed as exc:
            message = f"{args.url}: {exc.detail}"
            if label not in message:
                message += f" [{what}]"
            code = exit_code_for(exc.reason)
            if exc.reason is FailureReason.ERROR_RESPONSE:
                word = f"error word 0x{exc.error_word:02X}" if exc.error_word is not None else ""
                rows.append(Row(name, "refused", None, "", label, word or exc.detail))
            elif exc.reason is FailureReason.TIMEOUT and not answered and not failures:
                return rows, CommandFailed(code, message)
            else:
                rows.append(not_available(name, exc.reason.value, source=label))
            failures.append((code, message))
            continue
        except UnexpectedMessage as exc:
            rows.append(not_available(name, FailureReason.MALFORMED.value, source=label))
            failures.append((ExitCode.BAD_REPLY, f"{args.url}: meter {address}: {exc} [{what}]"))
            continue
        except ConnectionLost as exc:
            return rows, CommandFailed(
                ExitCode.LINK_FAILED, f"{args.url}: connection lost: {exc} [{what}]"
            )
        answered += 1
        rows.extend(read_rows)
    if not failures:
        return rows, None
    messages = "\n".join(message for _, message in failures)
    if not answered:
        return rows, CommandFailed(failures[0][0], messages)
    summary = (
        f"{args.url}: partial read: {len(failures)} of {len(wanted)} identifier(s) failed, "
        f"{answered} read"
    )
    return rows, CommandFailed(ExitCode.PARTIAL, f"{messages}\n{summary}")


async def _scan(
    link: BusLink, standard: Standard, args: argparse.Namespace
) -> tuple[list[Row], CommandFailed | None]:
    if standard is Standard.DLT645_2007:
        request = ReadAddressRequest().to_frame()
    else:
        request = ReadRequest(Address.WILDCARD, ADDRESS_DI_1997, standard).to_frame()
    try:
        reply = await exchange(link, request, reply_timeout=args.timeout)
    except ReadFailed as exc:
        return [], CommandFailed(exit_code_for(exc.reason), f"{args.url}: scan: {exc.detail}")
    except ConnectionLost as exc:
        return [], CommandFailed(ExitCode.LINK_FAILED, f"{args.url}: connection lost: {exc}")
    if isinstance(reply, ErrorResponse):
        detail = refused(Address.WILDCARD, "read address", reply).detail
        return [], CommandFailed(ExitCode.METER_ERROR, f"{args.url}: scan: {detail}")
    if isinstance(reply, ReadResponse):
        # 1997: the address is the C032 data; some meters echo AAAAAAAAAAAA in the header.
        frame = reply.to_frame()
        found = address_in(Address.WILDCARD, frame, standard)
        if found.address is None:
            return [], CommandFailed(ExitCode.BAD_REPLY, f"{args.url}: scan: {found.detail}")
        return [Row("address", str(found.address), str(found.address))], None
    if not isinstance(reply, ReadAddressResponse):
        return [], CommandFailed(ExitCode.BAD_REPLY, f"{args.url}: scan: odd reply {reply}")
    found_address = str(reply.address)
    return [Row("address", found_address, found_address)], None


async def _search(
    link: BusLink, standard: Standard, args: argparse.Namespace
) -> tuple[list[Row], CommandFailed | None]:
    def progress(step: Progress) -> None:
        print(
            f"search: {step.asked} asked, {len(step.found)} found, {step.pending} to narrow; "
            f"{step.probe.target}: {step.probe.heard.value}"
            + (f" {step.probe.address}" if step.probe.address else ""),
            file=sys.stderr,
            flush=True,
        )

    try:
        found, unresolved = await search(
            link, standard, reply_timeout=args.timeout, on_progress=progress
        )
    except ConnectionLost as exc:
        return [], CommandFailed(ExitCode.LINK_FAILED, f"{args.url}: connection lost: {exc}")
    rows = [Row(f"meter {n}", str(a), str(a)) for n, a in enumerate(found, start=1)]
    if not found and not unresolved:
        return rows, CommandFailed(
            ExitCode.NO_REPLY, f"{args.url}: search: no meter answered AAAAAAAAAAAA"
        )
    if unresolved:
        where = ", ".join(f"{p.target} ({p.detail})" for p in unresolved)
        return rows, CommandFailed(
            ExitCode.BAD_REPLY, f"{args.url}: search: several meters answer one address: {where}"
        )
    return rows, None
