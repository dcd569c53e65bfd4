"""Completeness counts expected vs received per meter and day, and rolls up by group."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from headend.collection.completeness import CompletenessTracker

SLOT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def test_failures_counted_with_reasons_and_backfill_restores() -> None:
    tracker = CompletenessTracker("Asia/Shanghai")
    for i in range(4):
        tracker.record_success("m1", "energy", SLOT + timedelta(minutes=15 * i))
    tracker.record_failure("m1", "energy", SLOT + timedelta(hours=1), "timeout", backfillable=True)
    tracker.record_failure("m1", "energy", SLOT + timedelta(hours=2), "checksum")
    day = date(2026, 11, 23)
    tally = tracker.meter_day("m1", day)
    assert (tally.expected, tally.received) == (6, 4)
    assert tally.failures == {"timeout": 1, "checksum": 1}
    assert tracker.record_backfill("m1", "energy", SLOT + timedelta(hours=1))
    assert not tracker.record_backfill("m1", "energy", SLOT + timedelta(hours=1))
    assert not tracker.record_backfill("m1", "energy", SLOT)
    tally = tracker.meter_day("m1", day)
    assert (tally.received, tally.backfilled) == (5, 1)
    assert abs(tally.success_rate - 5 / 6) < 1e-9


def test_local_day_boundary_uses_site_timezone() -> None:
    tracker = CompletenessTracker("Asia/Shanghai")
    late_utc = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 01:00 on the 24th in Shanghai
    tracker.record_success("m1", "energy", late_utc)
    assert tracker.meter_day("m1", date(2026, 11, 24)).received == 1
    assert tracker.meter_day("m1", date(2026, 11, 23)).received == 0


def test_rollup_by_transformer() -> None:
    tracker = CompletenessTracker("UTC")
    transformer = {"m1": "T1", "m2": "T1", "m3": "T2"}
    tracker.record_success("m1", "e", SLOT)
    tracker.record_failure("m2", "e", SLOT, "timeout")
    tracker.record_success("m3", "e", SLOT)
    rows = {row.group: row for row in tracker.rollup(SLOT.date(), transformer.get)}
    assert rows["T1"].expected == 2
    assert rows["T1"].success_rate == 0.5
    assert rows["T1"].failures == {"timeout": 1}
    assert rows["T2"].success_rate == 1.0


def test_local_day_is_the_zones_day_for_every_slot_also_when_asked_again() -> None:
    tracker = CompletenessTracker("Asia/Shanghai")
    late = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 00:30 on the 24th in Shanghai
    for _ in range(2):
        assert tracker.local_day(late) == date(2026, 11, 24)
        assert tracker.local_day(SLOT) == date(2026, 11, 23)
    for minute in range(5000):  # past the cache's size: it starts again, still right
        at = SLOT + timedelta(minutes=minute)
        assert tracker.local_day(at) == (at + timedelta(hours=8)).date()


def test_a_day_without_failures_reports_none_and_roll_ups_add_only_real_ones() -> None:
    tracker = CompletenessTracker("Asia/Shanghai")
    tracker.record_success("m1", "energy", SLOT)
    tracker.record_failure("m2", "energy", SLOT, "timeout")
    day = date(2026, 11, 23)
    assert tracker.meter_day("m1", day).failures == {}
    rows = tracker.rollup(day, lambda meter: "T1")
    assert [(row.expected, row.received, row.failures) for row in rows] == [(2, 1, {"timeout": 1})]
