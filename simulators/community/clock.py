"""A deterministic time source for simulator tests and benches (the model never reads wall time).

Simulated time that runs faster than real time has one class, the head-end's ``WarpedClock``
(``headend.clock``): its ``now`` is handed to the simulators as a plain ``() -> datetime``, so
the head-end and the simulators it talks to share one clock, and the simulators need not import
the head-end (they may not). ``SteppingClock`` has another job: it advances per call, not with
real time.
"""

from __future__ import annotations

from datetime import datetime, timedelta


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
