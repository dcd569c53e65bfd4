"""The frozen pull's writer, as tests of the pull see it: takes readings and says they are
stored, or refuses, so a test can check what reached storage and how the pull reacts to a
refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from storage.records import Quality, Reading, ReadingKind

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Stored:
    """The writer's side: takes readings and says they are stored, or refuses."""

    def __init__(self, tz: tzinfo = SHANGHAI) -> None:
        self.readings: list[Reading] = []
        self.accept = True
        self.tz = tz

    async def __call__(
        self, readings: list[Reading], *, then: Callable[[bool], None] | None = None
    ) -> None:
        if self.accept:
            self.readings.extend(readings)
        if then is not None:
            then(self.accept)

    def value(self, meter: str, quantity: str, day: date) -> tuple[float, Quality]:
        at = datetime.combine(day + timedelta(days=1), datetime.min.time(), self.tz)
        (hit,) = [
            r
            for r in self.readings
            if r.meter == meter and r.quantity == quantity and r.timestamp == at
        ]
        assert hit.kind is ReadingKind.FROZEN
        assert hit.value is not None
        return hit.value, hit.quality
