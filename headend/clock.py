"""Wall time for the scheduler, real or warped.

Production runs on ``SystemClock``. The demo and integration tests run a whole evening peak in
minutes with ``WarpedClock``: simulated time advances ``speed`` times faster than real time, and
the simulators read the same clock, so 15-minute energy slots and the community model stay
consistent. Wire timing (baud rate, reply delays) stays real: only the calendar is fast.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current (possibly simulated) time, timezone-aware UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when``."""
        ...

    def real_seconds(self, span: float) -> float:
        """How many real seconds ``span`` seconds of this clock's time take."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    def real_seconds(self, span: float) -> float:
        return span


class WarpedClock:
    """Simulated time starting at ``start``, running ``speed`` times faster than real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        if start.tzinfo is None:
            raise ValueError("WarpedClock: start must be timezone-aware")
        if speed <= 0:
            raise ValueError(f"WarpedClock: speed must be > 0, got {speed}")
        self.start = start
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._origin) * self.speed
        return self.start + timedelta(seconds=elapsed)

    async def sleep_until(self, when: datetime) -> None:
        delay = self.real_seconds((when - self.now()).total_seconds())
        if delay > 0:
            await asyncio.sleep(delay)

    def real_seconds(self, span: float) -> float:
        return span / self.speed
