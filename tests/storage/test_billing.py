"""Billing assembly rules that do not depend on a store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from storage.billing import DayState, StoredPoint, billing_report, period_bounds
from storage.records import Quality, ReadingKind


class FakeSource:
    """Answers from a fixed list, filtering like a store would."""

    def __init__(self, points: list[StoredPoint]) -> None:
        self.points = points
        self.kinds: list[ReadingKind] = []

    async def meters_of_transformer(self, transformer: str) -> list[str]:
        return []

    async def stored_points(
        self,
        kind: ReadingKind,
        meters: Sequence[str],
        quantities: Sequence[str],
        start: datetime,
        end: datetime,
    ) -> list[StoredPoint]:
        self.kinds.append(kind)
        if kind is not ReadingKind.FROZEN:
            return []
        return [p for p in self.points if p.meter in meters and start <= p.timestamp < end]


def test_period_bounds_follow_the_local_day() -> None:
    china = timezone(timedelta(hours=8))
    first, after = period_bounds(date(2026, 3, 1), date(2026, 3, 2), china)
    assert first == datetime(2026, 2, 28, 16, tzinfo=UTC)
    assert after - first == timedelta(days=2)
    with pytest.raises(ValueError, match="before it starts"):
        period_bounds(date(2026, 3, 2), date(2026, 3, 1), china)


async def test_best_quality_wins_then_latest() -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    points = [
        StoredPoint("M1", "q", day + timedelta(hours=1), 1.0, "kWh", Quality.ESTIMATED),
        StoredPoint("M1", "q", day + timedelta(hours=2), 2.0, "kWh", Quality.ACTUAL),
        StoredPoint("M1", "q", day + timedelta(hours=3), 3.0, "kWh", Quality.ACTUAL),
        StoredPoint("M1", "q", day + timedelta(hours=4), None, "kWh", Quality.MISSING, "timeout"),
    ]
    source = FakeSource(points)
    report = await billing_report(
        source, meters=["M1"], start=day.date(), end=day.date(), quantities=["q"]
    )
    assert [(r.state, r.value) for r in report.daily] == [(DayState.COLLECTED, 3.0)]
    assert source.kinds == [ReadingKind.FROZEN, ReadingKind.ENERGY]


async def test_exactly_one_selector_is_required() -> None:
    source = FakeSource([])
    with pytest.raises(ValueError, match="exactly one"):
        await billing_report(source, start=date(2026, 3, 1), end=date(2026, 3, 1))
