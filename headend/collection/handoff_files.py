"""The files of one hand-off: the day's settlement reads and its collection KPI report.

The settlement file has the columns of ``/api/exports/settlement.csv`` (``seq`` first, the
customer dimension, local and UTC time, the quality: ``estimated`` flags an estimate), one row
per (meter, register, freeze time) of the day: its latest change-log entry up to the hand-off's
``upto``, logged after its ``after`` (a correction holds only what changed). It is streamed a
page at a time from the store to a hidden temporary file that is renamed when whole
(``storage.handoff.atomic_file``), so memory does not grow with the fleet; the next page is
read (in the store's reader thread, SQLite without the GIL) while this one is formatted.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, tzinfo
from pathlib import Path
from typing import Final, TextIO

from headend.collection.handoff_schedule import day_bounds
from storage.archive.records import MeterExchange
from storage.exports.change_log import ChangeRow, DayChangeSource, DayPage
from storage.exports.settlement_csv import SETTLEMENT_COLUMNS
from storage.handoff.atomic_file import open_atomic, write_atomically
from storage.handoff.kpi_csv import write_kpi_csv
from storage.handoff.settlement_rows import Customers, SettlementRows
from storage.kpi.outcomes import MeterDay
from storage.line_protocol import timestamp_ns

PAGE: Final = 10_000
"""Change-log entries read and written at a time."""
SETTLEMENT_FILE: Final = "settlement"
KPI_FILE: Final = "kpi"


def file_names(day: date, sequence: int) -> tuple[str, str]:
    """(settlement, KPI report): ``settlement-2026-07-18-00.csv``, 00 the daily one, 01.. its
    corrections, so the names sort by day, then in the order to apply them."""
    return (
        f"{SETTLEMENT_FILE}-{day.isoformat()}-{sequence:02d}.csv",
        f"{KPI_FILE}-{day.isoformat()}-{sequence:02d}.csv",
    )


def day_page(day: date, tz: tzinfo, after: int, upto: int) -> DayPage:
    start, end = day_bounds(day, tz)
    return DayPage(timestamp_ns(start), timestamp_ns(end), after, upto)


async def write_settlement(
    source: DayChangeSource,
    path: Path,
    page: DayPage,
    customers: Customers,
    tz: tzinfo,
    page_size: int = PAGE,
    *,
    keep_empty: bool = True,
    exchanges: Sequence[MeterExchange] = (),
) -> int:
    """Write the settlement file of ``page``'s entries; returns the number of reads. With
    ``keep_empty`` False (a correction) no file appears when there is no entry."""
    rows = 0
    formatter = SettlementRows(customers, tz, exchanges)
    entries = await source.day_changes(page, page_size)
    if not entries and not keep_empty:
        return 0
    with open_atomic(path) as out:
        csv.writer(out, lineterminator="\n").writerow(SETTLEMENT_COLUMNS)
        while True:
            following = None
            if len(entries) == page_size:  # ask for the next page while this one is written
                last = entries[-1]
                more = source.day_changes(replace(page, position=(last.ts_ns, last.seq)), page_size)
                following = asyncio.ensure_future(more)
            try:
                # Formatted in a worker thread: the event loop (collection) is not held per page.
                await asyncio.to_thread(_write_lines, out, formatter, entries)
            except BaseException:
                if following is not None:
                    following.cancel()
                raise
            rows += len(entries)
            if following is None:
                return rows
            entries = await following


def _write_lines(out: TextIO, formatter: SettlementRows, entries: Sequence[ChangeRow]) -> None:
    out.write(formatter.lines(entries))


def write_kpi(path: Path, meter_days: Sequence[MeterDay], day: date) -> None:
    write_atomically(path, lambda out: write_kpi_csv(out, meter_days, day))
