"""Monthly billing determinants: start and end register reads per tariff and the energy
between them, from the settlement-day freeze, with the data source stated.

A meter freezes its registers on its settlement day (结算日, 00:00 of day N of the month);
that record is what a bill is made from. Meters (or concentrators) that do not report
settlement records are billed from the daily freeze of the settlement day, which is the same
instant, and the determinant says so (``DAILY_FREEZE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from storage.consumption import consumption_between
from storage.vee.reads import RegisterRead, RegisterTable, ValueQuality, worst

SETTLEMENT_FREEZE: Final = "settlement_freeze"
DAILY_FREEZE: Final = "daily_freeze_of_settlement_day"
MAX_SETTLEMENT_DAY: Final = 28
"""DL/T 645 settlement days are 1..28: every month has them."""


@dataclass(frozen=True, slots=True)
class Determinant:
    meter: str
    month: str
    """``YYYY-MM``: the billing month that starts on its settlement day."""
    quantity: str
    start_day: date
    end_day: date
    start: RegisterRead
    end: RegisterRead
    consumption: float | None
    quality: ValueQuality
    source: str
    """``settlement_freeze`` or ``daily_freeze_of_settlement_day``."""
    rules: tuple[str, ...] = ()
    detail: str = ""
    exchanges: int = 0
    billed: float | None = None
    """``consumption`` times CT x PT, per meter across an exchange."""


def settlement_days(year: int, month: int, settlement_day: int) -> tuple[date, date]:
    """The freezes that open and close a billing month: day N of it and of the next."""
    if not 1 <= settlement_day <= MAX_SETTLEMENT_DAY:
        raise ValueError(f"settlement day {settlement_day} not 1..{MAX_SETTLEMENT_DAY}")
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, settlement_day), date(*following, settlement_day)


def determinants(
    meter: str,
    year: int,
    month: int,
    settlement_day: int,
    *,
    daily: RegisterTable,
    settlement: RegisterTable | None,
    quantities: Sequence[str],
) -> list[Determinant]:
    """One determinant per quantity. ``settlement`` holds the meters' own settlement records
    (by the day of their freeze) when the store has them; a quantity uses them only when both
    ends are there, else the daily freeze of those days."""
    start_day, end_day = settlement_days(year, month, settlement_day)
    found = []
    for quantity in quantities:
        table, source = daily, DAILY_FREEZE
        if settlement is not None and all(
            settlement.get(day, quantity).quality is ValueQuality.ACTUAL
            for day in (start_day, end_day)
        ):
            table, source = settlement, SETTLEMENT_FREEZE
        energy = consumption_between(table, start_day, end_day, quantity)
        assert energy.start is not None
        assert energy.end is not None
        found.append(
            Determinant(
                meter,
                f"{year:04d}-{month:02d}",
                quantity,
                start_day,
                end_day,
                energy.start,
                energy.end,
                energy.value,
                worst([energy.quality]),
                source,
                energy.rules,
                energy.detail,
                energy.exchanges,
                energy.billed,
            )
        )
    return found
