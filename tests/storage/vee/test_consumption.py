"""Daily consumption from frozen registers: per tariff, a missing day estimated linearly and
flagged, an exchange bridged by old-final - old-start + new-end - new-initial, an edit that
wins and says so, and a register that went down refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from storage.archive.edits import RegisterEdit
from storage.archive.records import MeterExchange
from storage.billing import DailyValue
from storage.consumption import daily_consumption
from storage.records import Quality
from storage.vee.estimate import LINEAR, estimate_linear
from storage.vee.reads import OPERATOR_EDIT, MeterChain, ValueQuality, days_from, register_reads
from tests.storage.vee.cases import (
    A_T1,
    A_T2,
    A_TOTAL,
    B_TOTAL,
    C_TOTAL,
    EXCHANGE,
    T1,
    T2,
    TOTAL,
    TZ,
    day,
    row,
    rows_of,
)

DAYS = days_from(day(1), day(6))
ONLY_A = MeterChain.single("A")
BILLED = DAYS[:-1]  # each day needs the next day's freeze


def a_rows() -> list[DailyValue]:
    return rows_of("A", TOTAL, A_TOTAL) + rows_of("A", T1, A_T1) + rows_of("A", T2, A_T2)


def test_a_missing_day_is_estimated_linearly_and_flagged_with_the_rule() -> None:
    table = register_reads(MeterChain.single("A"), a_rows(), [], DAYS, [TOTAL, T1], TZ)
    estimated = estimate_linear(table, DAYS, [TOTAL, T1])
    assert [(r.day, r.quantity, r.value) for r in estimated] == [
        (day(3), TOTAL, 120.25),
        (day(3), T1, 48.0),
    ]
    rows = daily_consumption("A", table, BILLED, [TOTAL])
    assert [(r.day.day, r.value, r.quality) for r in rows] == [
        (1, 10.0, ValueQuality.ACTUAL),
        (2, pytest.approx(10.25), ValueQuality.ESTIMATED),
        (3, pytest.approx(10.25), ValueQuality.ESTIMATED),
        (4, 10.0, ValueQuality.ACTUAL),
        (5, 9.5, ValueQuality.ACTUAL),
    ]
    assert rows[1].rules == (LINEAR,)
    assert rows[0].rules == ()
    # the estimate moves energy between days, never makes any: 2nd + 3rd = 130.5 - 110
    assert rows[1].value + rows[2].value == pytest.approx(20.5)  # type: ignore[operator]


def test_without_estimation_a_missing_day_stays_missing_with_why() -> None:
    table = register_reads(MeterChain.single("A"), a_rows(), [], DAYS, [TOTAL], TZ)
    rows = daily_consumption("A", table, BILLED, [TOTAL])
    assert [(r.day.day, r.value, r.quality) for r in rows][1:3] == [
        (2, None, ValueQuality.MISSING),
        (3, None, ValueQuality.MISSING),
    ]
    assert "2026-06-03: not collected: timeout" in rows[1].detail


def test_a_gap_at_the_end_is_not_extrapolated() -> None:
    values = {1: 100.0, 2: 110.0, 3: 120.0, 4: None}
    days = days_from(day(1), day(4))
    table = register_reads(
        MeterChain.single("A"), rows_of("A", TOTAL, values), [], days, [TOTAL], TZ
    )
    assert estimate_linear(table, days, [TOTAL]) == []
    assert table.get(day(4), TOTAL).quality is ValueQuality.MISSING


def test_consumption_across_an_exchange_bridges_the_two_meters() -> None:
    chain = MeterChain.of("B", [EXCHANGE])
    assert chain.meters == ("B", "C")
    rows = rows_of("B", TOTAL, B_TOTAL) + rows_of("C", TOTAL, C_TOTAL)
    table = register_reads(chain, rows, [], DAYS, [TOTAL], TZ)
    found = daily_consumption("B", table, BILLED, [TOTAL])
    assert [(r.day.day, r.value) for r in found] == [
        (1, 15.0),
        (2, 5.0),
        (3, pytest.approx(8.0)),  # 205 - 200 + 3.5 - 0.5
        (4, 6.5),
        (5, 6.0),
    ]
    assert found[2].meters == ("B", "C")
    assert found[2].quality is ValueQuality.ACTUAL
    assert "exchange" in found[2].detail


def test_a_measurement_point_that_kept_its_id_gives_the_new_meters_register() -> None:
    """A concentrator's pn keeps the old id: after the exchange its rows are the new meter's."""
    chain = MeterChain.of("C", [EXCHANGE])  # asked by the new id, stored under the old one
    rows = rows_of("B", TOTAL, B_TOTAL) + rows_of("B", TOTAL, C_TOTAL)
    table = register_reads(chain, rows, [], DAYS, [TOTAL], TZ)
    assert table.get(day(4), TOTAL).meter == "C"
    found = daily_consumption("C", table, BILLED, [TOTAL])
    assert [r.value for r in found] == [15.0, 5.0, pytest.approx(8.0), 6.5, 6.0]


def test_an_exchange_without_a_read_of_the_register_gives_no_value() -> None:
    chain = MeterChain.of("B", [EXCHANGE])
    rows = rows_of("B", T2, {2: 10.0, 3: 11.0}) + rows_of("C", T2, {4: 1.0})
    table = register_reads(chain, rows, [], days_from(day(2), day(4)), [T2], TZ)
    (third,) = daily_consumption("B", table, [day(3)], [T2])
    assert (third.value, third.quality) == (None, ValueQuality.MISSING)
    assert "no final read of energy_active_import_t2" in third.detail


def test_a_register_that_went_down_without_an_exchange_is_no_value() -> None:
    values = {1: 100.0, 2: 90.0, 3: 95.0}
    days = days_from(day(1), day(3))
    table = register_reads(
        MeterChain.single("A"), rows_of("A", TOTAL, values), [], days, [TOTAL], TZ
    )
    first, second = daily_consumption("A", table, days[:-1], [TOTAL])
    assert (first.value, first.raw, first.quality) == (None, -10.0, ValueQuality.MISSING)
    assert "decreased by 10.0000" in first.detail
    assert second.value == 5.0


def test_an_operators_edit_wins_and_says_so() -> None:
    edit = RegisterEdit(
        "A", day(3), TOTAL, 121.0, "read on site", "ops", datetime(2026, 6, 8, 9, tzinfo=TZ)
    )
    older = RegisterEdit(
        "A", day(3), TOTAL, 999.0, "typo", "ops", datetime(2026, 6, 8, 8, tzinfo=TZ)
    )
    table = register_reads(MeterChain.single("A"), a_rows(), [edit, older], DAYS, [TOTAL], TZ)
    assert estimate_linear(table, DAYS, [TOTAL]) == []  # nothing left to estimate
    read = table.get(day(3), TOTAL)
    assert (read.value, read.quality, read.rule) == (121.0, ValueQuality.EDITED, OPERATOR_EDIT)
    assert read.detail == "ops: read on site"
    second, third = daily_consumption("A", table, [day(2), day(3)], [TOTAL])
    assert (second.value, second.quality, second.rules) == (
        11.0,
        ValueQuality.EDITED,
        (OPERATOR_EDIT,),
    )
    assert third.value == pytest.approx(9.5)


def test_billed_energy_multiplies_each_meters_part_by_its_ct_pt() -> None:
    """B behind a 2x CT, C direct: 2 x (205 - 200) + 1 x (3.5 - 0.5) = 13 on the 3rd."""
    chain = MeterChain.of("B", [EXCHANGE])
    rows = rows_of("B", TOTAL, B_TOTAL) + rows_of("C", TOTAL, C_TOTAL)
    table = register_reads(chain, rows, [], DAYS, [TOTAL], TZ, {"B": 2.0})
    second, third, fourth = daily_consumption("B", table, [day(2), day(3), day(4)], [TOTAL])
    assert (second.value, second.billed) == (5.0, 10.0)
    assert third.value == pytest.approx(8.0)
    assert third.billed == pytest.approx(13.0)
    assert fourth.billed == 6.5


def test_a_final_read_below_the_old_meters_last_freeze_is_no_value() -> None:
    """Old final 199 < 200 at the day's freeze: the crew's read is wrong, even though the
    day's sum (199 - 200 + 3.5 - 0.5 = 2) is positive."""
    wrong = MeterExchange("B", "C", EXCHANGE.at, {TOTAL: 199.0}, {TOTAL: 0.5})
    chain = MeterChain.of("B", [wrong])
    rows = rows_of("B", TOTAL, B_TOTAL) + rows_of("C", TOTAL, C_TOTAL)
    table = register_reads(chain, rows, [], DAYS, [TOTAL], TZ)
    (third,) = daily_consumption("B", table, [day(3)], [TOTAL])
    assert (third.value, third.quality, third.raw) == (None, ValueQuality.MISSING, -1.0)
    assert "register of B decreased by 1.0000" in third.detail


def test_a_stored_estimate_stays_an_estimate_and_a_re_read_is_the_meters() -> None:
    rows = [
        replace(row("A", 1, TOTAL, 100.0), quality=Quality.BACKFILLED),
        replace(row("A", 2, TOTAL, 110.0), quality=Quality.ESTIMATED),
    ]
    table = register_reads(ONLY_A, rows, [], [day(1), day(2)], [TOTAL], TZ)
    assert table.get(day(1), TOTAL).quality is ValueQuality.ACTUAL
    assert (table.get(day(2), TOTAL).quality, table.get(day(2), TOTAL).rule) == (
        ValueQuality.ESTIMATED,
        "stored_estimate",
    )
    (first,) = daily_consumption("A", table, [day(1)], [TOTAL])
    assert (first.value, first.quality) == (10.0, ValueQuality.ESTIMATED)
