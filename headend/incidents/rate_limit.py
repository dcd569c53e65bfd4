"""A token bucket per destination (sans-IO: the caller gives the monotonic time).

Robots refuse a sender that posts too often (WeCom: 20 a minute per robot), and an operator's
phone should not ring forty times in a storm: notifications beyond the rate wait their turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class DeliveryPace:
    per_minute: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self._tokens = min(
                float(self.burst), self._tokens + (now - self._at) * self.per_minute / 60.0
            )
        self._at = now

    def wait(self, now: float) -> float:
        """Seconds until a token is free (0: one is); takes nothing."""
        self._refill(now)
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) * 60.0 / self.per_minute

    def take(self, now: float) -> bool:
        """Take a token if one is free."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
