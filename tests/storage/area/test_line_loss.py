"""Line loss of one transformer day, hand-checked: an exchange inside the area bridged, a
missing meter counted as incomplete, a stopped register and a register decrease ranked as
suspects of a high loss, and a negative loss pointing at a spike and the supply meter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import pytest

from storage.archive.records import MeterExchange, MeterRole
from storage.area.line_loss import (
    Anomaly,
    CustomerDay,
    FigureQuality,
    LineLossLimits,
    SuspectReason,
    line_loss,
)
from storage.area.supply import (
    INTERVAL_READS,
    NO_SUPPLY_METER,
    BoundaryRead,
    Supplied,
    supplied_between,
)
from storage.consumption import daily_consumption
from storage.vee.reads import MeterChain, ValueQuality, days_from, register_reads
from tests.storage.vee.cases import B_TOTAL, C_TOTAL, EXCHANGE, TOTAL, TZ, day, rows_of

DAY = day(3)
"""June 3rd: the day B is exchanged for C (8.0 kWh across it, tests/storage/vee/cases.py)."""
LIMITS = LineLossLimits(history_min_days=2)
"""Two days of history (the 1st and 2nd) are enough to judge in these cases."""


def customer(
    point: str,
    registers: Mapping[int, float | None],
    kind: MeterRole = MeterRole.HOUSEHOLD,
    *,
    exchanges: Sequence[MeterExchange] = (),
    extra: Mapping[int, float | None] | None = None,
    multiplier: float = 1.0,
) -> CustomerDay:
    """Freezes of June 1st..4th; the day judged is the 3rd, the 1st and 2nd its history.
    ``extra`` are the registers of the chain's first meter (before an exchange)."""
    chain = MeterChain.of(point, exchanges)
    rows = rows_of(point, TOTAL, registers)
    if extra is not None:
        rows += rows_of(chain.meters[0], TOTAL, extra)
    table = register_reads(
        chain,
        rows,
        [],
        days_from(day(1), day(4)),
        [TOTAL],
        TZ,
        {m: multiplier for m in chain.meters},
    )
    *history, today = daily_consumption(point, table, [day(1), day(2), DAY], [TOTAL])
    return CustomerDay(
        point, kind, today, [r.billed if r.value is not None else None for r in history]
    )


def supplied(kwh: float) -> Supplied:
    start = BoundaryRead(
        datetime(2026, 6, 3, tzinfo=TZ), "LV", 1000.0, ValueQuality.ACTUAL, INTERVAL_READS
    )
    end = BoundaryRead(
        datetime(2026, 6, 4, tzinfo=TZ), "LV", 1000.0 + kwh, ValueQuality.ACTUAL, INTERVAL_READS
    )
    return supplied_between("LV", MeterChain.single("LV"), start, end, {})


def exchanged() -> CustomerDay:
    """B -> C on the 3rd: 205 - 200 + 3.5 - 0.5 = 8.0 kWh, never 3.5 - 200."""
    return customer("C", C_TOTAL, exchanges=[EXCHANGE], extra=B_TOTAL)


def test_a_complete_measured_day_with_an_exchange_bridged() -> None:
    h1 = customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0})  # 10.0 kWh
    found = line_loss("T1", DAY, supplied(19.0), [exchanged(), h1], LIMITS)
    assert found.customers_kwh == pytest.approx(18.0)  # 8.0 + 10.0
    assert found.loss_kwh == pytest.approx(1.0)  # 19 - 18
    assert found.loss_percent == pytest.approx(100 / 19)  # 5.263 %
    assert (found.expected, found.included, found.missing) == (2, 2, ())
    assert found.quality is FigureQuality.MEASURED
    assert found.anomaly is None
    assert found.suspects == ()


def test_a_high_loss_ranks_the_stopped_register_then_the_missing_meter() -> None:
    customers = [
        exchanged(),  # 8.0
        customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0}),  # 10.0
        customer("H2", {1: 50.0, 2: 58.0, 3: 66.0, 4: 66.0}),  # 0.0, typical 8.0: stopped
        customer("H3", {1: 20.0, 2: 25.0, 3: 30.0, 4: None}),  # missing, typical 5.0
        customer("EV", {1: 7.0, 2: 9.0, 3: 11.0, 4: 11.0}, MeterRole.EV_PILE),  # 0.0, typical 2.0
    ]
    found = line_loss("T1", DAY, supplied(40.0), customers, LIMITS)
    assert found.customers_kwh == pytest.approx(18.0)  # 8 + 10 + 0 + 0
    assert found.loss_kwh == pytest.approx(22.0)
    assert found.loss_percent == pytest.approx(55.0)  # 22 / 40
    assert (found.expected, found.included, found.missing) == (5, 4, ("H3",))
    assert found.completeness == pytest.approx(0.8)
    assert found.quality is FigureQuality.INCOMPLETE
    assert found.anomaly is Anomaly.ABOVE_THRESHOLD
    assert [(s.meter, s.reason) for s in found.suspects] == [
        ("H2", SuspectReason.STOPPED),
        ("H3", SuspectReason.MISSING),
        ("EV", SuspectReason.DROP),
    ]
    assert [s.explains_kwh for s in found.suspects] == pytest.approx(
        [8.0, 5.0, 2.0]
    )  # the EV pile's empty day is a drop, not a stopped register: it is not a household


def test_a_register_that_went_down_is_the_first_suspect() -> None:
    customers = [
        customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0}),  # 10.0
        customer("H5", {1: 30.0, 2: 31.0, 3: 32.0, 4: 31.5}),  # down 0.5: no value
        customer("H6", {1: 0.0, 2: 10.0, 3: 20.0, 4: 22.0}),  # 2.0 against 10.0: a drop
    ]
    found = line_loss("T1", DAY, supplied(20.0), customers, LIMITS)
    assert found.customers_kwh == pytest.approx(12.0)
    assert found.loss_percent == pytest.approx(40.0)  # (20 - 12) / 20
    assert found.missing == ("H5",)
    assert [(s.meter, s.reason) for s in found.suspects] == [
        ("H5", SuspectReason.REGISTER_DECREASE),
        ("H6", SuspectReason.DROP),
    ]
    assert [s.explains_kwh for s in found.suspects] == pytest.approx([1.0, 8.0])
    assert "decreased by 0.5000" in found.suspects[0].detail


def test_a_negative_loss_points_at_a_spike_and_the_supply_meter() -> None:
    customers = [
        customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0}),  # 10.0, typical 10
        customer("H4", {1: 0.0, 2: 1.0, 3: 2.0, 4: 12.0}),  # 10.0 against a typical 1.0
    ]
    found = line_loss("T1", DAY, supplied(15.0), customers, LIMITS)
    assert found.loss_kwh == pytest.approx(-5.0)  # 15 - 20
    assert found.loss_percent == pytest.approx(-100 / 3)
    assert found.quality is FigureQuality.MEASURED
    assert found.anomaly is Anomaly.NEGATIVE
    assert [(s.meter, s.reason) for s in found.suspects] == [
        ("H4", SuspectReason.SPIKE),
        ("LV", SuspectReason.SUPPLY_METER),
    ]
    assert found.suspects[0].explains_kwh == pytest.approx(9.0)


def test_a_loss_just_below_zero_is_within_the_meters_accuracy() -> None:
    h1 = customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0})  # 10.0
    found = line_loss("T1", DAY, supplied(9.96), [h1], LIMITS)
    assert found.loss_percent == pytest.approx(-0.4016, abs=1e-4)  # -0.04 / 9.96
    assert found.anomaly is None  # inside the default 0.5 % tolerance


def test_ct_times_pt_is_applied_to_the_customers_registers() -> None:
    h1 = customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0}, multiplier=30.0)
    found = line_loss("T1", DAY, supplied(330.0), [h1], LIMITS)
    assert found.customers_kwh == pytest.approx(300.0)  # 10.0 x CT x PT 30
    assert found.loss_percent == pytest.approx(100 * 30 / 330)


def test_an_estimate_makes_the_figure_includes_estimates() -> None:
    h1 = customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0})
    guessed = replace(h1, day=replace(h1.day, quality=ValueQuality.ESTIMATED))
    found = line_loss("T1", DAY, supplied(10.5), [guessed], LIMITS)
    assert found.quality is FigureQuality.INCLUDES_ESTIMATES
    assert found.estimated == ("H1",)


def test_no_supply_meter_gives_an_incomplete_figure_without_a_rate() -> None:
    h1 = customer("H1", {1: 100.0, 2: 110.0, 3: 120.0, 4: 130.0})
    found = line_loss("T1", DAY, NO_SUPPLY_METER, [h1], LIMITS)
    assert (found.loss_kwh, found.loss_percent, found.anomaly) == (None, None, None)
    assert found.quality is FigureQuality.INCOMPLETE
    assert found.customers_kwh == pytest.approx(10.0)
