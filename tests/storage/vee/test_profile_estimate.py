"""A lost freeze estimated from the meter's own interval register reads around midnight:
linear in time, flagged ``load_profile``; reads out of reach, of another meter of the chain
or of bad quality are not leaned on, and the linear rule covers what is left."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from storage.billing import StoredPoint
from storage.consumption import daily_consumption
from storage.records import Quality
from storage.vee.estimate import LINEAR, PROFILE, estimate_from_profile, estimate_linear
from storage.vee.reads import MeterChain, ValueQuality, days_from, register_reads
from tests.storage.vee.cases import A_TOTAL, EXCHANGE, TOTAL, TZ, day, rows_of

DAYS = days_from(day(1), day(6))
MIDNIGHT_3RD = datetime.combine(day(3), time(), TZ)
ONLY_A = MeterChain.single("A")


def interval(
    meter: str, minutes: float, value: float, quality: Quality = Quality.ACTUAL
) -> StoredPoint:
    at = MIDNIGHT_3RD + timedelta(minutes=minutes)
    return StoredPoint(meter, TOTAL, at, value, "kWh", quality)


def test_the_freeze_is_read_off_the_profile_between_the_reads_around_midnight() -> None:
    table = register_reads(
        MeterChain.single("A"), rows_of("A", TOTAL, A_TOTAL), [], DAYS, [TOTAL], TZ
    )
    points = [
        interval("A", -45, 119.0),
        interval("A", -15, 119.9),  # the nearest before
        interval("A", 15, 120.3),  # the nearest after: 119.9 + 0.4 / 2 = 120.1
        interval("A", 5, 125.0, Quality.ESTIMATED),  # never leaned on
        interval("B", 0, 999.0),  # another meter's
    ]
    (filled,) = estimate_from_profile(table, points)
    assert (filled.day, filled.quality, filled.rule) == (day(3), ValueQuality.ESTIMATED, PROFILE)
    assert filled.value is not None
    assert abs(filled.value - 120.1) < 1e-9
    assert estimate_linear(table, DAYS, [TOTAL]) == []  # nothing left for the straight line
    second, third = daily_consumption("A", table, [day(2), day(3)], [TOTAL])
    assert second.rules == (PROFILE,)
    assert abs(second.value - 10.1) < 1e-9  # type: ignore[operator]
    assert abs(third.value - 10.4) < 1e-9  # type: ignore[operator]


def test_reads_out_of_reach_leave_it_to_the_linear_rule() -> None:
    table = register_reads(
        MeterChain.single("A"), rows_of("A", TOTAL, A_TOTAL), [], DAYS, [TOTAL], TZ
    )
    assert (
        estimate_from_profile(table, [interval("A", -180, 119.0), interval("A", 15, 120.3)]) == []
    )
    (filled,) = estimate_linear(table, DAYS, [TOTAL])
    assert (filled.rule, filled.value) == (LINEAR, 120.25)


def test_a_profile_read_of_the_old_meter_after_the_exchange_is_the_new_ones() -> None:
    """Rows stored under the old id after the exchange are the new meter's register."""
    chain = MeterChain.of("B", [EXCHANGE])
    rows = rows_of("B", TOTAL, {3: 200.0}) + rows_of("B", TOTAL, {5: 10.0, 6: 16.0})
    table = register_reads(chain, rows, [], DAYS, [TOTAL], TZ)
    fourth = datetime.combine(day(4), time(), TZ)
    points = [
        StoredPoint("B", TOTAL, fourth - timedelta(minutes=10), 3.0, "kWh", Quality.ACTUAL),
        StoredPoint("B", TOTAL, fourth + timedelta(minutes=10), 4.0, "kWh", Quality.ACTUAL),
    ]
    (filled,) = estimate_from_profile(table, points)
    assert (filled.meter, filled.day, filled.value) == ("C", day(4), 3.5)
