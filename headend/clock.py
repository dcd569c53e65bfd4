"""Wall time for the scheduler, real or warped.

Production runs on ``SystemClock``. The demo and integration tests run a whole evening peak in
minutes with ``WarpedClock``: simulated time advances ``speed`` times faster than real time, and
the simulators read the same clock, so 15-minute energy slots and the community model stay
consistent. Wire timing (baud rate, reply delays) stays real: only the calendar is fast.

Two processes (``headend simulate`` and ``headend run``) agree on the simulated now by sharing
an epoch: the simulated ``start``, the ``speed`` and the real ``anchor`` instant at which the
simulated time was ``start``. The anchor is a wall-clock instant because that is the only time
two processes (or two containers) share; it is converted once to the monotonic clock, so an NTP
step after start does not make the simulated time jump.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
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
    """Simulated time that was ``start`` at the real instant ``anchor`` (default: now), running
    ``speed`` times faster than real time."""

    def __init__(
        self,
        start: datetime,
        speed: float,
        anchor: datetime | None = None,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("WarpedClock: start must be timezone-aware")
        if speed <= 0:
            raise ValueError(f"WarpedClock: speed must be > 0, got {speed}")
        if anchor is not None and anchor.tzinfo is None:
            raise ValueError("WarpedClock: anchor must be timezone-aware")
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        real_now = wall()
        self.anchor = anchor or datetime.fromtimestamp(real_now, UTC)
        """The real instant at which the simulated time was ``start``."""
        self._origin = monotonic() - (real_now - self.anchor.timestamp())

    def now(self) -> datetime:
        elapsed = (self._monotonic() - self._origin) * self.speed
        return self.start + timedelta(seconds=elapsed)

    async def sleep_until(self, when: datetime) -> None:
        delay = self.real_seconds((when - self.now()).total_seconds())
        if delay > 0:
            await asyncio.sleep(delay)

    def real_seconds(self, span: float) -> float:
        return span / self.speed
