"""Lost freezes logged estimated and flagged: linear between real ones, once, then corrected."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storage.archive.records import MeterExchange
from storage.embedded import SqliteStore
from storage.exports.estimate_log import freezes_between, log_estimates
from storage.records import Quality, Reading, ReadingKind

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 6, 8, 16, 0, tzinfo=UTC)  # 2026-06-09 00:00 site time
TOTAL = "energy_active_import_total"


def freeze(meter: str, day: int, value: float, quality: Quality = Quality.ACTUAL) -> Reading:
    at = T0 + timedelta(days=day)
    return Reading(meter, TOTAL, value, "kWh", at, ReadingKind.FROZEN, quality, tags={"b": "S1"})


def test_the_lost_freezes_are_the_local_midnights_between_two_real_ones() -> None:
    assert freezes_between(T0, T0 + timedelta(days=3), TZ) == [
        datetime(2026, 6, 10, tzinfo=TZ),
        datetime(2026, 6, 11, tzinfo=TZ),
    ]
    assert freezes_between(T0, T0 + timedelta(days=1), TZ) == []


async def test_a_lost_day_is_estimated_once_and_a_late_real_value_corrects_it(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write([freeze("m1", 0, 100.0), freeze("m1", 1, 110.0)])
        assert await store.log_estimates(TZ, []) == 0  # no gap
        await store.write([freeze("m1", 4, 140.0, Quality.BACKFILLED)])  # days 2 and 3 lost
        assert await store.log_estimates(TZ, []) == 2
        assert await store.log_estimates(TZ, []) == 0  # every poll runs a pass: nothing new
        estimates = (await store.changes(3, 100))[:2]
        await store.write([freeze("m1", 2, 125.0, Quality.BACKFILLED)])  # a re-read got it
        late = await store.log_estimates(TZ, [])
        after = await store.changes(5, 100)
    finally:
        await store.aclose()
    assert [(e.timestamp, e.quality) for e in estimates] == [
        (T0 + timedelta(days=2), Quality.ESTIMATED),
        (T0 + timedelta(days=3), Quality.ESTIMATED),
    ]
    assert [e.value for e in estimates] == pytest.approx([120.0, 130.0])
    assert estimates[0].tags == {
        "b": "S1",
        "rule": "linear_interpolation",
        "between": "2026-06-10T00:00:00+08:00/2026-06-13T00:00:00+08:00",
    }
    # The real value is a new entry; day 3 is estimated again, now between days 2 and 4.
    assert late == 1
    assert [(e.timestamp, e.quality) for e in after] == [
        (T0 + timedelta(days=2), Quality.BACKFILLED),
        (T0 + timedelta(days=3), Quality.ESTIMATED),
    ]
    assert [e.value for e in after] == pytest.approx([125.0, 132.5])


async def test_no_estimate_across_an_exchange_a_decrease_or_a_month(tmp_path: Path) -> None:
    exchange = MeterExchange(
        "m1", "m1-new", T0 + timedelta(days=1, hours=10), {TOTAL: 112.0}, {TOTAL: 0.0}
    )
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write([freeze("m1", 0, 100.0), freeze("m1", 3, 3.0)])  # exchanged between
        await store.write([freeze("m2", 0, 100.0), freeze("m2", 2, 90.0)])  # went down
        await store.write([freeze("m3", 0, 100.0), freeze("m3", 40, 500.0)])  # not read for weeks
        added = await store.log_estimates(TZ, [exchange])
    finally:
        await store.aclose()
    assert added == 0


async def test_a_pass_goes_in_steps_and_misses_nothing(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        for meter in ("m1", "m2", "m3"):
            await store.write([freeze(meter, 0, 100.0), freeze(meter, 2, 120.0)])
        connection = sqlite3.connect(tmp_path / "store.sqlite")
        try:
            steps = [log_estimates(connection, TZ, [], chunk=4) for _ in range(2)]
            connection.commit()
        finally:
            connection.close()
        entries = await store.changes(6, 100)
    finally:
        await store.aclose()
    # 6 freezes in steps of 4 entries: the first step sees m1 and m2's, the second m3's (and
    # the step's own estimates, which it skips).
    assert steps == [(2, True), (1, False)]
    assert sorted(e.meter for e in entries) == ["m1", "m2", "m3"]
    assert {e.quality for e in entries} == {Quality.ESTIMATED}


async def test_a_monthly_register_is_never_estimated_and_estimates_are_rounded(
    tmp_path: Path,
) -> None:
    """A concentrator's F177 month freezes are a month apart by design (nothing lost between);
    a daily estimate has the register's 4 decimals, not a float's tail."""
    monthly = [
        Reading("m1", "settlement_energy_active_import_total", value, "kWh", at, ReadingKind.FROZEN)
        for value, at in ((100.0, T0), (400.0, T0 + timedelta(days=30)))
    ]
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write(monthly)
        assert await store.log_estimates(TZ, []) == 0
        await store.write([freeze("m2", 0, 100.0), freeze("m2", 3, 100.00001)])
        assert await store.log_estimates(TZ, []) == 2
        estimates = await store.changes(4, 100)
    finally:
        await store.aclose()
    assert [e.value for e in estimates] == [100.0, 100.0]
