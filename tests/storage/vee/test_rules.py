"""Validation findings: each rule fires on the case it is for and stays quiet otherwise."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from storage.consumption import DailyConsumption
from storage.vee.reads import ValueQuality, days_from
from storage.vee.rules import (
    CLOCK_DRIFT,
    REGISTER_DECREASE,
    SPIKE,
    TARIFF_SUM,
    ZERO_CONSUMPTION,
    clock_drifts,
    consumption_matrix,
    spikes,
    tariff_sums,
    validate,
    zero_runs,
)
from tests.storage.vee.cases import T1, T2, TOTAL, TZ, day

DAYS = days_from(day(1), day(10))


def used(meter: str, when: date, value: float | None, quantity: str = TOTAL) -> DailyConsumption:
    quality = ValueQuality.ACTUAL if value is not None else ValueQuality.MISSING
    return DailyConsumption(meter, when, quantity, value, quality)


def test_a_day_far_above_the_meters_own_median_is_a_spike() -> None:
    flat = [used("A", d, 8.0) for d in DAYS]
    flat[6] = used("A", DAYS[6], 45.0)  # 5.6 x the median of 8
    small = [used("B", d, 0.5) for d in DAYS]
    small[2] = used("B", DAYS[2], 4.0)  # 8 x, but under the 5 kWh floor
    matrix = consumption_matrix(flat + small, ["A", "B"], DAYS, TOTAL)
    assert matrix.shape == (2, 10)
    (found,) = spikes(matrix, ["A", "B"], DAYS, TOTAL)
    assert (found.rule, found.meter, found.day) == (SPIKE, "A", DAYS[6])
    assert "45.000 kWh" in found.detail
    assert "median day of 8.000" in found.detail


def test_a_meter_without_enough_history_is_not_judged() -> None:
    rows = [used("A", DAYS[0], 1.0), used("A", DAYS[1], 50.0)]
    matrix = consumption_matrix(rows, ["A", "E"], DAYS, TOTAL)
    assert np.isnan(matrix[1]).all()  # E has no values at all: no warning, no finding
    assert spikes(matrix, ["A", "E"], DAYS, TOTAL) == []


def test_tariffs_that_do_not_add_up_to_the_total_are_found() -> None:
    rows = [
        used("A", day(1), 10.0),
        used("A", day(1), 4.0, T1),
        used("A", day(1), 6.0, T2),
        used("A", day(2), 10.0),
        used("A", day(2), 4.0, T1),
        used("A", day(2), 5.0, T2),  # 9 of 10
    ]
    (found,) = tariff_sums(rows, TOTAL)
    assert (found.rule, found.day) == (TARIFF_SUM, day(2))
    assert "add up to 9.0000 kWh, the total is 10.0000" in found.detail


def test_zero_days_in_a_row_on_an_occupied_household() -> None:
    rows = [used("A", d, 5.0) for d in DAYS] + [used("V", d, 0.0) for d in DAYS]
    for n in (3, 4, 5):
        rows[n] = used("A", DAYS[n], 0.0)
    rows[8] = used("A", DAYS[8], 0.0)  # one zero day alone is no finding
    matrix = consumption_matrix(rows, ["A", "V"], DAYS, TOTAL)
    (found,) = zero_runs(matrix, ["A", "V"], DAYS, {"A"}, TOTAL)  # V: a vacant flat
    assert (found.rule, found.meter, found.day) == (ZERO_CONSUMPTION, "A", DAYS[3])
    assert "for 3 days (2026-06-04 to 2026-06-06)" in found.detail


def test_a_clock_off_by_more_than_the_limit() -> None:
    late = datetime(2026, 6, 2, 23, 30, tzinfo=TZ)
    (found,) = clock_drifts([("A", late, -420.0), ("B", late, 120.0)], TZ)
    assert (found.rule, found.meter, found.day) == (CLOCK_DRIFT, "A", day(2))
    assert "-420 s" in found.detail


def test_validate_orders_findings_and_reports_a_decrease() -> None:
    down = DailyConsumption("B", day(2), TOTAL, None, ValueQuality.MISSING, raw=-3.0)
    rows = [used("A", d, 5.0) for d in DAYS] + [down]
    found = validate(rows, ["A", "B"], DAYS, TOTAL)
    assert [(f.rule, f.meter) for f in found] == [(REGISTER_DECREASE, "B")]
    assert "went down by 3.0000" in found[0].detail
