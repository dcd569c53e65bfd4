"""Errors of the terminal simulator, split between our configuration and the peer's requests."""

from __future__ import annotations

from simulators.errors import SimulatorError


class TerminalError(SimulatorError):
    """Root of every error the terminal simulator raises (under ``SimulatorError``)."""


class TerminalConfigError(TerminalError, ValueError):
    """Our own configuration is wrong (unknown attribute, bad topic template)."""


class RequestError(TerminalError, ValueError):
    """The peer sent an on-demand request we cannot answer (bad JSON, unknown point)."""

    def __init__(self, message: str, token: str | None = None) -> None:
        super().__init__(message)
        self.token = token
