"""The collection KPI report of a hand-off: the site total and every group, as CSV.

The same figures ``/api/kpi/collection`` answers (``storage.kpi.outcomes``), one row per
(dimension, group): what the collection team files next to the day's reads. Meters are left
out (one row per meter is the settlement file's job).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Final, TextIO

from storage.billing_csv import neutralise
from storage.kpi.outcomes import KpiRow, MeterDay, rollup, total

KPI_COLUMNS: Final = (
    "dimension",
    "group",
    "day",
    "due",
    "first_attempt",
    "backfilled",
    "missing",
    "success_rate",
    "first_attempt_rate",
    "backfill_rate",
)
REPORTED_DIMENSIONS: Final = ("terminal", "channel", "transformer", "building")


def kpi_rows(meter_days: Sequence[MeterDay], day: date) -> Iterator[list[str]]:
    """The header, the site total, then each dimension's groups."""
    yield list(KPI_COLUMNS)
    yield _row("total", total(meter_days, day))
    for dimension in REPORTED_DIMENSIONS:
        for row in rollup(meter_days, dimension):
            yield _row(dimension, row)


def write_kpi_csv(out: TextIO, meter_days: Sequence[MeterDay], day: date) -> None:
    csv.writer(out, lineterminator="\n").writerows(kpi_rows(meter_days, day))


def _row(dimension: str, row: KpiRow) -> list[str]:
    return [
        dimension,
        neutralise(row.group),
        row.day.isoformat(),
        str(row.due),
        str(row.first_attempt),
        str(row.backfilled),
        str(row.missing),
        f"{row.success_rate:.4f}",
        f"{row.first_attempt_rate:.4f}",
        f"{row.backfill_rate:.4f}",
    ]
