"""HTTP status classification and retry with backoff, shared by the InfluxDB sinks.

A 429 or 5xx means the server may accept the same request later, so we back off and retry;
a 400 or 401/403 will fail the same way every time, so we raise at once and let the caller decide.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from storage.errors import AuthError, BadLineError, SinkUnavailable, StorageError, WriteRejected

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``attempts`` counts the first try.

    Full jitter (a delay drawn uniformly below the exponential cap), as the head-end's bus
    ``Backoff`` does: many head-ends retrying one InfluxDB after it restarts must not come back
    in step. This is a second class rather than that one because storage imports nothing of the
    head-end (docs/architecture.md).
    """

    attempts: int = 5
    initial_delay_s: float = 0.2
    max_delay_s: float = 10.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.initial_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("RetryPolicy delays must be >= 0")
        if self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be >= 1, got {self.multiplier}")

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based), honouring Retry-After."""
        # The exponential cap is computed here rather than with the head-end's ``Backoff``:
        # storage sits below the head-end and imports nothing of it.
        cap = self.initial_delay_s * self.multiplier ** max(0, retry_number - 1)
        cap = min(max(self.initial_delay_s, self.max_delay_s), cap)
        base = random.uniform(0.0, cap)
        if retry_after is not None:
            base = max(base, min(retry_after, self.max_delay_s))
        return max(0.0, base)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (only the delta-seconds form; dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for_status(
    status: int, message: str, where: str, retry_after: float | None = None
) -> StorageError:
    """The storage error that an HTTP failure status means."""
    text = f"{where}: HTTP {status}: {message.strip()[:500]}"
    if status in (401, 403):
        return AuthError(text, status=status)
    if status in (400, 413, 422):
        return BadLineError(text, status=status)
    if status == 429 or status >= 500:
        return SinkUnavailable(text, status=status, retry_after=retry_after)
    return WriteRejected(text, status=status)


async def call_with_retries(
    operation: Callable[[], Awaitable[T]], policy: RetryPolicy, where: str
) -> T:
    """Run ``operation``, retrying SinkUnavailable with backoff; anything else propagates."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return await operation()
        except SinkUnavailable as exc:
            if attempt == policy.attempts:
                raise
            delay = policy.delay(attempt, exc.retry_after)
            # Debug only: whoever gets the final error (the outbox) logs on state change.
            log.debug("%s unavailable (attempt %d), retrying: %s", where, attempt, exc)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
