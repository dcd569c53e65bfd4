"""Exit codes of the ``headend`` command and the one exception that carries them.

Scripts at a meter box and in CI branch on the exit code, so each kind of failure has its own:
a wrong argument (fix the command line) is not a silent meter (check the wiring), which is
not a meter that answered "no" (check the identifier or the password), which is not a port
that would not open (check the adapter or the gateway).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Coroutine
from typing import Any

from headend.errors import HeadendError
from storage.records import FailureReason


class ExitCode(enum.IntEnum):
    OK = 0
    USAGE = 2
    """Bad arguments: the same code argparse uses."""
    NO_REPLY = 3
    """The meter did not answer in time."""
    METER_ERROR = 4
    """The meter answered with an error response (its error word is printed)."""
    LINK_FAILED = 5
    """The serial port or gateway could not be opened, or the connection dropped."""
    BAD_REPLY = 6
    """A reply arrived but was unusable: checksum, malformed, or from another address."""
    DATA_LOST = 7
    """The service stopped, but some readings it acquired were not stored (disk full...)."""
    PARTIAL = 8
    """Some values were read and printed, others failed (each failed row names its reason)."""
    INTERRUPTED = 130
    """Ctrl-C, the shell's convention (128 + SIGINT)."""
    BROKEN_PIPE = 141
    """Whoever read stdout went away (``| head``): 128 + SIGPIPE, as for tools killed by it."""


_BY_REASON = {
    FailureReason.TIMEOUT: ExitCode.NO_REPLY,
    FailureReason.ERROR_RESPONSE: ExitCode.METER_ERROR,
    FailureReason.CONNECTION_LOST: ExitCode.LINK_FAILED,
    FailureReason.UNSUPPORTED: ExitCode.USAGE,
}


def exit_code_for(reason: FailureReason) -> ExitCode:
    """The exit code of a failed read; anything not listed is an unusable reply."""
    return _BY_REASON.get(reason, ExitCode.BAD_REPLY)


class CommandFailed(HeadendError):
    """A subcommand could not do its job; ``main`` prints ``message`` and exits with ``code``.

    Raised instead of calling ``sys.exit`` so that ``main`` stays testable in-process and no
    traceback ever reaches an engineer for an expected failure.
    """

    def __init__(self, code: ExitCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class UsageProblem(CommandFailed):
    """An argument that parsed but makes no sense (unknown quantity, unknown map)."""

    def __init__(self, message: str) -> None:
        super().__init__(ExitCode.USAGE, message)


def root_cause(error: BaseException) -> BaseException:
    """The first leaf of nested exception groups: what a TaskGroup actually failed on."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` a service (``run`` and ``demo``), turning a start that failed for a known
    reason into the exit code and message an operator needs; anything else is a bug and raises."""
    try:
        asyncio.run(main)
    except Exception as exc:
        failure = service_failure(exc)
        if failure is None:
            raise
        raise failure from None


def service_failure(error: BaseException) -> CommandFailed | None:
    """A service that would not start, as the exit code and message an operator needs."""
    from headend.api import ApiConfigError
    from headend.collection.overlay import OverlayError
    from headend.config.errors import ConfigError
    from headend.config.meters import RegistryError
    from headend.service import DataLost
    from storage.errors import LocalStoreFailed
    from transports import InvalidTransportUrl

    cause = root_cause(error)
    if isinstance(cause, DataLost):
        return CommandFailed(ExitCode.DATA_LOST, f"head-end stopped with data lost: {cause}")
    usage = ConfigError | ApiConfigError | RegistryError | OverlayError | InvalidTransportUrl
    if isinstance(cause, usage):
        return CommandFailed(ExitCode.USAGE, str(cause))
    if isinstance(cause, OSError):
        return CommandFailed(ExitCode.LINK_FAILED, f"cannot listen or open storage: {cause}")
    if isinstance(cause, LocalStoreFailed):  # at start: a store file of a newer version, say
        return CommandFailed(ExitCode.LINK_FAILED, f"cannot open storage: {cause}")
    return None
