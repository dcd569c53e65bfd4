"""Storage errors: one root, split between "our data or request is wrong" and "the peer failed".

Callers (the outbox above all) act on the split: a transient failure is retried, a rejection is
never retried as-is because sending the same bytes again cannot succeed.

Every exception class defined in ``storage`` derives from ``StorageError`` (tests/test_errors.py
checks it); they all live here. The tree (docs/errors.md says what each means to an operator)::

    StorageError
    ├── RecordError (ValueError)    a record cannot be stored as given (our side)
    ├── WriteRejected               the server refused the write for good (.status)
    │   ├── BadLineError            HTTP 400, 413, 422: it cannot parse our line protocol
    │   └── AuthError               HTTP 401, 403: credentials or permissions
    ├── SinkUnavailable             down, overloaded, unreachable (.status, .retry_after)
    ├── LocalStoreFailed            the embedded store or outbox could not commit the batch
    │   └── StorageFull             ENOSPC, SQLite's "database or disk is full"
    │       └── OutboxFull          the outbox reached its disk budget
    ├── QueryError                  a read query failed or returned something unreadable
    ├── ArchiveError (ValueError)   the meter archive refused a request
    │   └── ArchiveImportError      an archive file has bad rows (.problems), none imported
    ├── KpiStoreError               the KPI file (kpi.sqlite) cannot be used
    ├── HandoffLedgerError          the hand-off ledger (handoffs.sqlite) cannot be used
    └── ExportError (ValueError)    a reading has no form in an export (no CIM ReadingType)
"""

from __future__ import annotations

import errno
import sqlite3


class StorageError(Exception):
    """Root of every error raised by the storage package."""


class RecordError(StorageError, ValueError):
    """A record cannot be stored as given (newline in a tag, NaN value, ...): our side's fault."""


class WriteRejected(StorageError):
    """The server refused the write for good; retrying the same request cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadLineError(WriteRejected):
    """The server could not parse or accept our line protocol (HTTP 400, 413, 422)."""


class AuthError(WriteRejected):
    """The server refused our credentials or permissions (HTTP 401 or 403)."""


class SinkUnavailable(StorageError):
    """The server is down, overloaded or unreachable (HTTP 429, 5xx, connection, timeout).

    Raised once the sink's own retries are exhausted; the outbox keeps the data and tries again.
    ``retry_after`` carries the server's Retry-After hint in seconds when it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class LocalStoreFailed(StorageError):
    """The local file (embedded store or outbox) could not commit the batch; none of it is
    stored and it is not acknowledged. The caller keeps it and tries again."""


class StorageFull(LocalStoreFailed):
    """The disk is full (ENOSPC, SQLite's "database or disk is full")."""


class OutboxFull(StorageFull):
    """The outbox reached its disk budget; the batch was NOT stored and is not acknowledged."""


def local_store_error(exc: BaseException, where: str) -> LocalStoreFailed:
    """The storage error a failed SQLite commit means: full disk, or another I/O failure."""
    full = (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or getattr(exc, "errno", None) == errno.ENOSPC
    )
    kind = StorageFull if full else LocalStoreFailed
    return kind(f"{where}: {'disk full: ' if full else ''}{type(exc).__name__}: {exc}")


class QueryError(StorageError):
    """A read query failed or returned something we cannot interpret."""


class ArchiveError(StorageError, ValueError):
    """The meter archive (storage/archive/) refused a request: an unknown meter, an exchange
    that does not fit, a read the exchange has no value for."""


class ArchiveImportError(ArchiveError):
    """An archive file has bad rows; ``problems`` lists each as "row N, column C: what"
    and nothing of the file was imported."""

    def __init__(
        self,
        source: str,
        problems: list[str],
        *,
        cells: list[tuple[int, str | None]] | None = None,
    ) -> None:
        shown = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{source}: {shown}{more}")
        self.source = source
        self.problems = problems
        self.cells = cells or []
        """Per problem, its row and its column (None: the whole row): where the API's 422
        points (``loc``) without reading the message."""


class KpiStoreError(StorageError):
    """The KPI file (``<data-dir>/kpi.sqlite``) cannot be used: written by a newer head-end,
    broken, or holding a value this head-end does not know."""


class HandoffLedgerError(StorageError):
    """The daily hand-off's ledger (``<data-dir>/handoffs.sqlite``) cannot be used: written by a
    newer head-end, broken, or holding a state this head-end does not know."""


class ExportError(StorageError, ValueError):
    """A reading has no form in an export (a register without a CIM ReadingType)."""
