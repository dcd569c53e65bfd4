"""Meter-day outcomes from billing's daily values, and the KPI sums over them."""

from __future__ import annotations

from datetime import date

import pytest

from storage.billing import DailyValue, DayState
from storage.kpi.outcomes import UNASSIGNED, MeterDay, MeterDue, Outcome, outcome_of, rollup, total
from storage.records import Quality

DAY = date(2026, 7, 17)
TOTAL = "energy_active_import_total"


@pytest.mark.parametrize(
    ("state", "quality", "outcome"),
    [
        (DayState.COLLECTED, Quality.ACTUAL, Outcome.FIRST_ATTEMPT),
        (DayState.COLLECTED, Quality.BACKFILLED, Outcome.BACKFILLED),
        (DayState.COLLECTED, Quality.ESTIMATED, Outcome.MISSING),  # an estimate is not collected
        (DayState.NOT_COLLECTED, Quality.MISSING, Outcome.MISSING),
        (DayState.NOT_COLLECTED, None, Outcome.MISSING),
    ],
)
def test_outcome_of_a_daily_value(
    state: DayState, quality: Quality | None, outcome: Outcome
) -> None:
    assert outcome_of(DailyValue("m1", DAY, TOTAL, state, quality=quality)) is outcome


def test_groups_are_sums_of_meter_days_with_rates() -> None:
    t1 = [MeterDue(f"a{n}", terminal="jzq-1", channel="jzq-1", transformer="T1") for n in range(4)]
    bus = [MeterDue("b1", channel="bus-1", transformer="T1", building="B1")]
    outcomes = [Outcome.FIRST_ATTEMPT, Outcome.FIRST_ATTEMPT, Outcome.BACKFILLED, Outcome.MISSING]
    days = [MeterDay(DAY, due, o) for due, o in zip(t1, outcomes, strict=True)]
    days.append(MeterDay(DAY, bus[0], Outcome.BACKFILLED))
    by_terminal = {row.group: row for row in rollup(days, "terminal")}
    assert set(by_terminal) == {"jzq-1", UNASSIGNED}
    row = by_terminal["jzq-1"]
    assert (row.due, row.first_attempt, row.backfilled, row.missing) == (4, 2, 1, 1)
    assert (row.success_rate, row.first_attempt_rate, row.backfill_rate) == (0.75, 0.5, 0.5)
    (transformer,) = rollup(days, "transformer")
    assert (transformer.group, transformer.due, transformer.backfilled) == ("T1", 5, 2)
    site = total(days, DAY)
    assert (site.due, site.first_attempt, site.backfilled, site.missing) == (5, 2, 2, 1)
    assert total([], DAY).success_rate == 1.0  # nothing due is not a failure
    with pytest.raises(ValueError, match="household"):
        rollup(days, "household")
