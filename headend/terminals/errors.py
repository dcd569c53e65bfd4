"""Why a request to a dial-in terminal gave no answer (a ``ReadFailed``, with its reason)."""

from __future__ import annotations

from headend.errors import HeadendError, ReadFailed
from storage.records import FailureReason


class TerminalOffline(ReadFailed):
    """No session of that terminal is logged in: the request was never sent."""

    def __init__(self, terminal: str, detail: str) -> None:
        self.terminal = terminal
        super().__init__(
            FailureReason.CONNECTION_LOST, f"terminal {terminal}: {detail}", retryable=False
        )


class TerminalRequestFailed(ReadFailed):
    """The terminal did not answer in time (after the retries), or denied the request."""

    def __init__(self, terminal: str, reason: FailureReason, detail: str) -> None:
        self.terminal = terminal
        super().__init__(reason, f"terminal {terminal}: {detail}", retryable=False)


class UnknownTerminal(HeadendError, KeyError):
    """A request names a terminal the fleet file does not have (API 404)."""

    def __init__(self, terminal: str) -> None:
        self.terminal = terminal
        self.message = f"unknown terminal {terminal!r}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message  # KeyError's own __str__ would quote it a second time
