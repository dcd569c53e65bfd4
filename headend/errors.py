"""Errors of the head-end package.

A failed read ends as a reading with ``Quality.MISSING`` and a reason code; ``ReadFailed``
carries that reason from the protocol session up to the engine. ``retryable`` decides whether
the bus worker tries again at once: a timeout or a corrupt reply may succeed on the next
attempt, a meter that says "no such data" will say it again.
"""

from __future__ import annotations

from storage.records import FailureReason

RETRYABLE = frozenset(
    {
        FailureReason.TIMEOUT,
        FailureReason.CHECKSUM,
        FailureReason.MALFORMED,
        FailureReason.WRONG_ADDRESS,
        # retried once the worker has reopened the link (or failed fast while it is down)
        FailureReason.CONNECTION_LOST,
    }
)


class HeadendError(Exception):
    """Root of the head-end's own errors."""


class ReadFailed(HeadendError):
    """A request to a meter produced no usable answer; ``reason`` is the stored reason code."""

    def __init__(
        self,
        reason: FailureReason,
        detail: str,
        *,
        error_word: int | None = None,
        retryable: bool | None = None,
    ):
        self.reason = reason
        self.detail = detail
        self.error_word = error_word
        self._retryable = retryable
        super().__init__(f"{reason.value}: {detail}")

    @property
    def retryable(self) -> bool:
        """By reason, unless the raiser knows better (a link known to be down)."""
        return self.reason in RETRYABLE if self._retryable is None else self._retryable


class BusClosed(HeadendError):
    """The bus worker is shutting down; queued jobs end with this instead of a result."""


class UnknownMeter(HeadendError, KeyError):
    """A request names a meter the registry does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown meter"
