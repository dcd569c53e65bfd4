"""When the hand-off runs (site time, Asia/Shanghai: UTC+8, no DST) and which days a pass
hands off: once per day, once at start after a stop over its time, at most a week back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from headend.collection.handoff_schedule import day_bounds, due_days, latest_due, next_run

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = time(12, 0)


def test_the_next_run_is_the_next_local_noon() -> None:
    before = datetime(2026, 7, 18, 3, 59, 59, tzinfo=UTC)  # 11:59:59 in Shanghai
    assert next_run(before, NOON, SHANGHAI) == datetime(2026, 7, 18, 4, 0, tzinfo=UTC)
    at = datetime(2026, 7, 18, 4, 0, tzinfo=UTC)  # noon exactly: that run is now, next is
    assert next_run(at, NOON, SHANGHAI) == datetime(2026, 7, 19, 4, 0, tzinfo=UTC)
    evening_utc = datetime(2026, 7, 18, 17, 0, tzinfo=UTC)  # 01:00 on the 19th in Shanghai
    assert next_run(evening_utc, NOON, SHANGHAI) == datetime(2026, 7, 19, 4, 0, tzinfo=UTC)
    assert next_run(before, NOON, SHANGHAI).utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]


def test_the_latest_day_due_turns_at_the_local_time() -> None:
    assert latest_due(datetime(2026, 7, 18, 3, 59, tzinfo=UTC), NOON, SHANGHAI) == date(2026, 7, 17)
    assert latest_due(datetime(2026, 7, 18, 4, 0, tzinfo=UTC), NOON, SHANGHAI) == date(2026, 7, 18)
    # 17:00 UTC on the 17th is already 01:00 on the 18th in Shanghai: the 17th's noon is due.
    assert latest_due(datetime(2026, 7, 17, 17, 0, tzinfo=UTC), NOON, SHANGHAI) == date(2026, 7, 17)


def test_a_restart_after_the_time_hands_the_day_off_once() -> None:
    first = date(2026, 7, 1)
    assert due_days(date(2026, 7, 18), first, date(2026, 7, 17)) == [date(2026, 7, 18)]
    assert due_days(date(2026, 7, 18), first, date(2026, 7, 18)) == []  # done: not again
    assert due_days(date(2026, 7, 18), first, date(2026, 7, 15)) == [
        date(2026, 7, 16),
        date(2026, 7, 17),
        date(2026, 7, 18),
    ]


def test_a_long_stop_catches_up_a_week_and_the_first_start_nothing_before_it() -> None:
    days = due_days(date(2026, 7, 18), date(2026, 6, 1), date(2026, 7, 1))
    assert days[0] == date(2026, 7, 12)
    assert days[-1] == date(2026, 7, 18)
    assert len(days) == 7
    assert due_days(date(2026, 7, 17), date(2026, 7, 18), None) == []  # before the first day
    assert due_days(date(2026, 7, 18), date(2026, 7, 18), None) == [date(2026, 7, 18)]


def test_a_day_is_its_local_midnights() -> None:
    start, end = day_bounds(date(2026, 7, 18), SHANGHAI)
    assert start.astimezone(UTC) == datetime(2026, 7, 17, 16, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 7, 18, 16, 0, tzinfo=UTC)
