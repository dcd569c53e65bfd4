"""``headend read dlt645 --load-profile START COUNT``: print a meter's load profile records.

One request (06000001, or 0601..0606 0001 with ``--profile-class``) through the head-end's own
session code, follow-up frames joined; each value is a row named ``<slot time> <quantity>``
so the table reads interval by interval. Times are the meter's wall clock, as it stores them.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from headend.bus.link import BusLink
from headend.cli.errors import CommandFailed, ExitCode, UsageProblem, exit_code_for
from headend.cli.output import Row, not_available
from headend.drivers.dlt645.session import read_payload
from headend.errors import ReadFailed
from protocols.dlt645 import Address, EncodeError, Standard, encode
from protocols.dlt645.load_profile import (
    MAX_COUNT,
    LoadProfile,
    LoadProfileError,
    LoadProfileQuery,
    LoadProfileRequest,
    Mode,
    parse_records,
    unit_of,
)
from protocols.dlt645.values import NotAvailable
from transports import ConnectionLost


def query_of(args: argparse.Namespace) -> LoadProfileQuery:
    """The query the options ask for; ``UsageProblem`` names the bad one."""
    start_text, count_text = args.load_profile
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise UsageProblem(
            f"--load-profile START {start_text!r}: not a time such as 2026-12-02T06:00"
        ) from None
    if start.tzinfo is not None:
        raise UsageProblem("--load-profile START: the meter's wall-clock time, without a zone")
    if not count_text.isdigit() or not 1 <= int(count_text) <= MAX_COUNT:
        raise UsageProblem(f"--load-profile COUNT {count_text!r}: a block count 1..{MAX_COUNT}")
    query = LoadProfileQuery(args.profile_class, Mode.GIVEN_TIME, start, int(count_text))
    try:
        query.parameters()
    except EncodeError as exc:
        raise UsageProblem(f"--load-profile START {start_text!r}: {exc}") from None
    return query


def rows_of(profile: LoadProfile, di_label: str) -> list[Row]:
    rows: list[Row] = []
    for record in profile.records:
        when = record.time.isoformat(timespec="minutes")
        for name, value in record.values.items():
            shown, unit = f"{when} {name}", unit_of(name)
            if isinstance(value, NotAvailable):
                rows.append(not_available(shown, value.reason, unit=unit, source=di_label))
            elif isinstance(value, int | float):
                rows.append(Row(shown, f"{value:g}", value, unit, di_label))
    if profile.bad_blocks:
        rows.append(
            Row(
                "bad blocks",
                str(profile.bad_blocks),
                profile.bad_blocks,
                "",
                di_label,
                "blocks the meter marked E0 E0 (skipped)",
            )
        )
    return rows


async def read_load_profile(
    link: BusLink, address: Address, query: LoadProfileQuery, args: argparse.Namespace
) -> tuple[list[Row], CommandFailed | None]:
    label = f"{query.di:08X}"
    frame = LoadProfileRequest(address, query).to_frame()
    try:
        payload = await read_payload(
            link,
            address,
            query.di,
            Standard.DLT645_2007,
            reply_timeout=args.timeout,
            request=(frame, encode(frame)),
        )
        profile = parse_records(payload, query.profile_class)
    except ReadFailed as exc:
        message = f"{args.url}: {exc.detail} [DI {label} load profile]"
        return [], CommandFailed(exit_code_for(exc.reason), message)
    except LoadProfileError as exc:
        return [], CommandFailed(ExitCode.BAD_REPLY, f"{args.url}: meter {address}: {exc}")
    except ConnectionLost as exc:
        return [], CommandFailed(ExitCode.LINK_FAILED, f"{args.url}: connection lost: {exc}")
    rows = rows_of(profile, label)
    if not profile.records:
        return rows, CommandFailed(
            ExitCode.BAD_REPLY, f"{args.url}: meter {address}: no usable load profile record"
        )
    return rows, None
