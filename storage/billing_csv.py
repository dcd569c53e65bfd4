"""Billing as CSV: rows a billing clerk can open in a spreadsheet safely and file by household.

Why the cells are neutralised: text from the fleet (a building named ``=HYPERLINK(...)``) would
run as a formula in Excel or LibreOffice. Every text cell that starts with ``= + - @``, tab, CR
or LF gets a leading ``'`` (OWASP "CSV injection"). Numbers are written by us from floats and
left as they are, so a negative register stays a number.

Each row carries the meter's address, household, building and transformer (billing files by
household, not by our meter id), and its time twice: site local time with its offset, and UTC.
The last column, ``tariff``, is the site's name (``storage.tariffs``) of a ``_tN`` quantity's
tariff: last, so files read by column position keep reading.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final, TextIO

from storage.billing import BillingReport, DailyValue, DayState, StoredPoint
from storage.records import Quality
from storage.tariffs import DEFAULT_TARIFF_NAMES, tariff_name

CSV_COLUMNS: Final = (
    "record",
    "meter",
    "address",
    "household",
    "building",
    "transformer",
    "quantity",
    "day",
    "timestamp_local",
    "timestamp_utc",
    "value",
    "unit",
    "quality",
    "state",
    "reason",
    "tariff",
)
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True, slots=True)
class MeterLabels:
    """Where a meter sits, as the fleet configuration names it ("" when not set)."""

    address: str = ""
    household: str = ""
    building: str = ""
    transformer: str = ""


NO_LABELS: Final = MeterLabels()


def neutralise(text: str) -> str:
    """``text`` as a cell no spreadsheet will evaluate."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text(*cells: str) -> list[str]:
    return [neutralise(cell) for cell in cells]


def _times(timestamp: datetime | None, tz: tzinfo) -> list[str]:
    if timestamp is None:
        return ["", ""]
    return [timestamp.astimezone(tz).isoformat(), timestamp.astimezone(UTC).isoformat()]


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def daily_row(
    row: DailyValue,
    labels: MeterLabels,
    tz: tzinfo,
    tariffs: Mapping[int, str] = DEFAULT_TARIFF_NAMES,
) -> list[str]:
    return [
        "daily",
        *_text(row.meter, labels.address, labels.household, labels.building, labels.transformer),
        *_text(row.quantity),
        row.day.isoformat(),
        *_times(row.timestamp, tz),
        _number(row.value),
        *_text(row.unit),
        row.quality.value if row.quality else "",
        row.state.value,
        *_text(row.reason or "", tariff_name(row.quantity, tariffs)),
    ]


def interval_row(
    point: StoredPoint,
    labels: MeterLabels,
    tz: tzinfo,
    tariffs: Mapping[int, str] = DEFAULT_TARIFF_NAMES,
) -> list[str]:
    state = DayState.NOT_COLLECTED if point.quality is Quality.MISSING else DayState.COLLECTED
    return [
        "interval",
        *_text(point.meter, labels.address, labels.household, labels.building, labels.transformer),
        *_text(point.quantity),
        "",
        *_times(point.timestamp, tz),
        _number(point.value),
        *_text(point.unit),
        point.quality.value,
        state.value,
        *_text(point.reason or "", tariff_name(point.quantity, tariffs)),
    ]


def csv_text(rows: Iterable[list[str]]) -> str:
    """Rows as CSV text, for a streamed response."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def report_rows(
    report: BillingReport,
    labels: Mapping[str, MeterLabels],
    tz: tzinfo,
    tariffs: Mapping[int, str] = DEFAULT_TARIFF_NAMES,
) -> Iterator[list[str]]:
    """The header, then ``daily`` rows, then ``interval`` rows."""
    yield list(CSV_COLUMNS)
    for row in report.daily:
        yield daily_row(row, labels.get(row.meter, NO_LABELS), tz, tariffs)
    for point in report.intervals:
        yield interval_row(point, labels.get(point.meter, NO_LABELS), tz, tariffs)


def write_csv(
    report: BillingReport,
    out: TextIO,
    *,
    labels: Mapping[str, MeterLabels] | None = None,
    tz: tzinfo = UTC,
    tariffs: Mapping[int, str] = DEFAULT_TARIFF_NAMES,
) -> None:
    """One CSV table: ``daily`` rows (with state) then ``interval`` rows."""
    rows = report_rows(report, labels or {}, tz, tariffs)
    csv.writer(out, lineterminator="\n").writerows(rows)
