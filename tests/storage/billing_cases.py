"""One billing scenario shared by the embedded-store and InfluxDB tests, so both are held to it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from storage.billing import BillingReport, DayState
from storage.records import FailureReason, Quality, Reading, ReadingKind

CHINA = timezone(timedelta(hours=8))
QUANTITY = "energy_active_import_total"
DAY1 = date(2026, 3, 1)
DAY3 = date(2026, 3, 3)


def freeze_time(day: date) -> datetime:
    """Local midnight in China, as a UTC instant (what a meter's daily freeze stamps)."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA).astimezone(UTC)


def scenario() -> list[Reading]:
    """Two meters on T1 and one on T2 over three days, with gaps of every kind.

    M1: day 1 actual, day 2 estimated then backfilled (backfilled must win), day 3 missing read.
    M2: day 1 actual, days 2-3 nothing. M9 on another transformer.
    """
    tags_t1 = {"transformer": "T1", "building": "B1"}
    tags_t2 = {"transformer": "T2"}
    day2 = DAY1 + timedelta(days=1)
    readings = [
        Reading("M1", QUANTITY, 100.0, "kWh", freeze_time(DAY1), ReadingKind.FROZEN, tags=tags_t1),
        Reading(
            "M1",
            QUANTITY,
            110.0,
            "kWh",
            freeze_time(day2),
            ReadingKind.FROZEN,
            Quality.ESTIMATED,
            tags=tags_t1,
        ),
        Reading(
            "M1",
            QUANTITY,
            111.5,
            "kWh",
            freeze_time(day2) + timedelta(minutes=1),
            ReadingKind.FROZEN,
            Quality.BACKFILLED,
            tags=tags_t1,
        ),
        Reading.missing(
            "M1",
            QUANTITY,
            "kWh",
            freeze_time(DAY3),
            FailureReason.TIMEOUT,
            kind=ReadingKind.FROZEN,
            tags=tags_t1,
        ),
        Reading("M2", QUANTITY, 5.0, "kWh", freeze_time(DAY1), ReadingKind.FROZEN, tags=tags_t1),
        Reading("M9", QUANTITY, 9.0, "kWh", freeze_time(DAY1), ReadingKind.FROZEN, tags=tags_t2),
    ]
    for quarter in range(4):
        stamp = freeze_time(DAY1) + timedelta(minutes=15 * quarter)
        value = 100.0 + quarter / 4
        readings.append(
            Reading("M1", QUANTITY, value, "kWh", stamp, ReadingKind.ENERGY, tags=tags_t1)
        )
    return readings


def check_report(report: BillingReport) -> None:
    """What every store must answer for T1, days 1-3, in China time."""
    assert report.meters == ("M1", "M2")
    by_key = {(row.meter, row.day): row for row in report.daily}
    assert len(by_key) == 6
    first = by_key[("M1", DAY1)]
    assert (first.state, first.value, first.quality) == (DayState.COLLECTED, 100.0, Quality.ACTUAL)
    second = by_key[("M1", DAY1 + timedelta(days=1))]
    assert (second.value, second.quality) == (111.5, Quality.BACKFILLED)
    third = by_key[("M1", DAY3)]
    assert (third.state, third.reason) == (DayState.NOT_COLLECTED, "timeout")
    assert by_key[("M2", DAY1)].value == 5.0
    assert {(row.meter, row.day) for row in report.not_collected} == {
        ("M1", DAY3),
        ("M2", DAY1 + timedelta(days=1)),
        ("M2", DAY3),
    }
    assert [point.value for point in report.intervals] == [100.0, 100.25, 100.5, 100.75]
    assert all(point.meter == "M1" for point in report.intervals)
