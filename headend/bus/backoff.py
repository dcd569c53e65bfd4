"""Exponential backoff with full jitter, shared by retries, gateway reconnects and offline probes.

Full jitter (a random delay up to the exponential cap) keeps a fleet of gateways that lost
their link at the same moment from reconnecting in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float
    """Delay cap of the first retry, seconds."""
    maximum: float
    factor: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.base < 0 or self.maximum < self.base or self.factor < 1:
            raise ValueError(f"invalid backoff {self}")

    def cap(self, attempt: int) -> float:
        """The upper bound of the delay before retry ``attempt`` (1 = first retry)."""
        return min(self.maximum, self.base * self.factor ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Uniform in [0, cap] (full jitter): a floor at half the cap, as before, kept peers that
        failed together within a factor of two of each other on every retry."""
        cap = self.cap(attempt)
        if not self.jitter:
            return cap
        return (rng or random).uniform(0.0, cap)
