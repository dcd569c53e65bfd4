"""The supply meter's register at a day boundary from interval reads, hand-checked: measured
within a quarter hour, estimated up to two hours, missing beyond; never a read of the meter an
exchange replaced; a day across the supply meter's exchange bridged, CT x PT per meter."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage.archive.records import MeterExchange
from storage.area.supply import INTERVAL_READS, register_at, supplied_between
from storage.vee.reads import MeterChain, ValueQuality
from tests.storage.vee.cases import TOTAL, TZ

MIDNIGHT = datetime(2026, 6, 3, tzinfo=TZ)
LV = MeterChain.single("LV")


def at(minutes: float) -> datetime:
    return MIDNIGHT + timedelta(minutes=minutes)


def test_reads_five_minutes_either_side_make_a_measured_boundary() -> None:
    read = register_at(LV, MIDNIGHT, [("LV", at(-5), 100.0), ("LV", at(5), 101.0)])
    assert read.value == pytest.approx(100.5)
    assert (read.quality, read.source) == (ValueQuality.ACTUAL, INTERVAL_READS)
    assert (read.before, read.after) == (at(-5), at(5))


def test_the_nearest_reads_are_used_and_farther_ones_are_estimates() -> None:
    reads = [("LV", at(-120), 90.0), ("LV", at(-60), 100.0), ("LV", at(30), 103.0)]
    read = register_at(LV, MIDNIGHT, reads)
    assert read.value == pytest.approx(102.0)  # 100 + 3 x 60 / 90
    assert read.quality is ValueQuality.ESTIMATED


def test_no_read_after_the_boundary_is_missing_and_says_where() -> None:
    read = register_at(LV, MIDNIGHT, [("LV", at(-5), 100.0), ("LV", at(150), 110.0)])
    assert (read.value, read.quality) == (None, ValueQuality.MISSING)
    assert "within 2 h after" in read.detail


EXCHANGE = MeterExchange(
    old_meter="LV",
    new_meter="LV2",
    at=MIDNIGHT + timedelta(hours=10, minutes=30),
    old_final={TOTAL: 1010.0},
    new_initial={TOTAL: 0.5},
)
CHAIN = MeterChain.of("LV2", [EXCHANGE])


def test_a_read_of_the_replaced_meter_is_not_leaned_on() -> None:
    # LV is exchanged for LV2 two minutes before midnight: LV's read at 23:50 is not LV2's.
    late = MeterExchange("LV", "LV2", at(-2), {TOTAL: 1010.0}, {TOTAL: 0.5})
    chain = MeterChain.of("LV2", [late])
    reads = [("LV", at(-10), 1009.0), ("LV2", at(5), 1.0)]
    found = register_at(chain, MIDNIGHT, reads)
    assert (found.meter, found.quality) == ("LV2", ValueQuality.MISSING)


def test_a_day_across_the_supply_meters_exchange_is_bridged_with_each_ct() -> None:
    start = register_at(CHAIN, MIDNIGHT, [("LV", at(0), 1000.0)])
    end_at = MIDNIGHT + timedelta(days=1)
    end = register_at(CHAIN, end_at, [("LV2", end_at, 20.5)])
    found = supplied_between("LV2", CHAIN, start, end, {"LV": 40.0, "LV2": 20.0})
    # (1010 - 1000) x 40 + (20.5 - 0.5) x 20 = 400 + 400; the registers: 10 + 20 = 30.
    assert found.value == pytest.approx(800.0)
    assert found.register == pytest.approx(30.0)
    assert (found.quality, found.detail) == (ValueQuality.ACTUAL, "across 1 exchange(s)")


def test_a_register_that_went_down_gives_no_supply() -> None:
    start = register_at(LV, MIDNIGHT, [("LV", MIDNIGHT, 1000.0)])
    end_at = MIDNIGHT + timedelta(days=1)
    end = register_at(LV, end_at, [("LV", end_at, 990.0)])
    found = supplied_between("LV", LV, start, end, {})
    assert (found.value, found.quality) == (None, ValueQuality.MISSING)
    assert "decreased by 10.0000" in found.detail
