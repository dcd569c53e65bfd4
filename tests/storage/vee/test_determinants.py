"""Monthly billing determinants: reads at the settlement-day freezes, the energy between
them across an exchange, and the data source stated."""

from __future__ import annotations

from datetime import date

import pytest

from storage.billing import DailyValue, DayState
from storage.records import Quality
from storage.vee.determinants import (
    DAILY_FREEZE,
    SETTLEMENT_FREEZE,
    determinants,
    settlement_days,
)
from storage.vee.reads import MeterChain, ValueQuality, register_reads
from tests.storage.vee.cases import EXCHANGE, T1, TOTAL, TZ

JUNE, JULY = date(2026, 6, 1), date(2026, 7, 1)


def read(meter: str, when: date, quantity: str, value: float) -> DailyValue:
    return DailyValue(meter, when, quantity, DayState.COLLECTED, value, "kWh", Quality.ACTUAL)


# B: 180 (t1 27) on June 1st; exchanged on the 3rd (B final 205 / t1 82, C initial 0.5 / 0);
# C: 100.5 (t1 15) on July 1st -> 205 - 180 + 100.5 - 0.5 = 125.0, t1 82 - 27 + 15 - 0 = 70.
DAILY = [
    read("B", JUNE, TOTAL, 180.0),
    read("B", JUNE, T1, 27.0),
    read("C", JULY, TOTAL, 100.5),
    read("C", JULY, T1, 15.0),
]


def test_settlement_days_open_and_close_the_month() -> None:
    assert settlement_days(2026, 12, 5) == (date(2026, 12, 5), date(2027, 1, 5))
    with pytest.raises(ValueError, match=r"settlement day 29 not 1\.\.28"):
        settlement_days(2026, 2, 29)


def test_determinants_across_an_exchange_from_the_daily_freeze() -> None:
    chain = MeterChain.of("B", [EXCHANGE])
    daily = register_reads(chain, DAILY, [], [JUNE, JULY], [TOTAL, T1], TZ)
    total, t1 = determinants("B", 2026, 6, 1, daily=daily, settlement=None, quantities=[TOTAL, T1])
    assert (total.month, total.start_day, total.end_day) == ("2026-06", JUNE, JULY)
    assert (total.start.meter, total.start.value) == ("B", 180.0)
    assert (total.end.meter, total.end.value) == ("C", 100.5)
    assert total.consumption == pytest.approx(125.0)
    assert t1.consumption == pytest.approx(70.0)
    assert (total.source, total.quality, total.exchanges) == (DAILY_FREEZE, ValueQuality.ACTUAL, 1)


def test_the_meters_own_settlement_record_is_preferred_and_named() -> None:
    chain = MeterChain.single("A")
    daily = register_reads(
        chain,
        [read("A", JUNE, TOTAL, 10.0), read("A", JULY, TOTAL, 99.0)],
        [],
        [JUNE, JULY],
        [TOTAL],
        TZ,
    )
    settled = register_reads(
        chain,
        [read("A", JUNE, TOTAL, 10.0), read("A", JULY, TOTAL, 98.0)],
        [],
        [JUNE, JULY],
        [TOTAL],
        TZ,
    )
    (found,) = determinants("A", 2026, 6, 1, daily=daily, settlement=settled, quantities=[TOTAL])
    assert (found.source, found.consumption) == (SETTLEMENT_FREEZE, 88.0)


def test_a_missing_end_read_gives_a_missing_determinant() -> None:
    chain = MeterChain.single("A")
    daily = register_reads(chain, [read("A", JUNE, TOTAL, 10.0)], [], [JUNE, JULY], [TOTAL], TZ)
    (found,) = determinants("A", 2026, 6, 1, daily=daily, settlement=None, quantities=[TOTAL])
    assert (found.consumption, found.quality) == (None, ValueQuality.MISSING)
    assert "2026-07-01: not collected" in found.detail
