"""Who may send an on-demand request over MQTT, and how often (pure: no I/O, injected clock).

The broker's ACL decides who may publish on the request topic at all; this gate is the second
lock, in the head-end itself, because a request costs bus time on a half-duplex RS-485 line and
may set a meter's clock: every request names a configured requester and carries its token, and
each requester has a token bucket so one client cannot flood the buses. Refusals are counted by
reason and requester, so an operator sees who knocks.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headend.config.mqtt import Requester
from headend.errors import HeadendError


class RequestRefused(HeadendError):
    """The request is not served; ``reason`` is a short label for metrics, the text for the
    requester."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class TokenBucket:
    """``burst`` requests at once, then ``rate`` per second."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float | None = None

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> bool:
        if self.updated is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RequestGate:
    def __init__(
        self,
        requesters: Sequence[Requester],
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens = {r.name: r.token.encode() for r in requesters}
        self._buckets = {r.name: TokenBucket(rate, burst) for r in requesters}
        self._clock = clock

    def admit(self, request: Mapping[str, Any]) -> str:
        """The requester's name, or ``RequestRefused`` saying why not."""
        name = claimed_name(request)
        token = request.get("token")
        expected = self._tokens.get(name)
        if expected is None:
            raise RequestRefused(
                "unknown_requester", "request refused: 'requester' is not an allowed requester"
            )
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected):
            raise RequestRefused("bad_token", f"request refused: bad token for requester {name!r}")
        if not self._buckets[name].take(self._clock()):
            raise RequestRefused(
                "rate_limited", f"request refused: requester {name!r} is over its rate limit"
            )
        return name


def claimed_name(request: Mapping[str, Any]) -> str:
    """The requester a request claims to be, safe to log and count ("?" when unusable)."""
    claimed = request.get("requester")
    return claimed if isinstance(claimed, str) and 0 < len(claimed) <= 64 else "?"
