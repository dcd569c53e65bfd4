"""Simulated clocks for driving a community from outside (the model never reads wall time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta


class AcceleratedClock:
    """Simulated time that starts at ``start`` and runs ``speed`` times faster than real time.

    A demo can play a whole day in minutes (speed 1440 = one day per minute) while the model
    itself only ever sees the datetimes this clock hands out.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("AcceleratedClock: start must be timezone-aware")
        if speed <= 0:
            raise ValueError(f"AcceleratedClock: speed must be > 0, not {speed}")
        self._start = start
        self._speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        elapsed = (self._monotonic() - self._origin) * self._speed
        return self._start + timedelta(seconds=elapsed)


class SteppingClock:
    """Simulated time that moves by ``step`` on every reading: deterministic tests and benches."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        if start.tzinfo is None:
            raise ValueError("SteppingClock: start must be timezone-aware")
        self._next = start
        self._step = step

    def __call__(self) -> datetime:
        moment = self._next
        self._next += self._step
        return moment
