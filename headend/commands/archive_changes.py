"""Changes of the meter archive (档案): an import of a whole file, and a meter exchange (换表),
each audited (fsync'd) before the archive changes.

Why through the audit trail like a command to a meter: an import can drop or move hundreds of
billing points and an exchange decides how a customer's consumption is bridged, so who did it,
when and with what must be on disk before it is in force, and a refusal gets its ``refused``
outcome. ``headend archive`` (the CLI) and the admin API (``/api/archive``) both come here, so
the two paths audit and refuse alike.

The archive write runs in the caller's thread (the event loop for the API), as the audit's
fsync does: an archive is thousands of rows, changes are rare, and a write handed to a thread
could land after its caller was cancelled, leaving no outcome for an intent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final, TypeVar

from headend.commands.audit import AuditEntry, AuditLog
from storage.archive.diff import ArchiveDiff
from storage.archive.exchange_input import new_meter_row
from storage.archive.records import ArchiveMeter, MeterExchange
from storage.archive.store import ArchiveStore
from storage.errors import ArchiveError

IMPORT_COMMAND: Final = "archive import"
EXCHANGE_COMMAND: Final = "meter exchange"
T = TypeVar("T")
ARCHIVE_SUBJECT: Final = "archive"
"""The audit entry's ``meter`` of an import: it is about the whole archive, not one meter."""


def import_archive(
    audit: AuditLog,
    archive_path: Path,
    meters: Sequence[ArchiveMeter],
    *,
    user: str,
    now: datetime,
    source: str,
) -> ArchiveDiff:
    """Make the archive exactly ``meters`` (``ArchiveStore.import_meters``) after the intent,
    with what it will change, is on disk. Raises ``ArchiveError`` (audited ``refused``)."""
    with ArchiveStore.open(archive_path) as store:
        planned = store.diff(meters)
        intent = audit.begin(
            now,
            user,
            ARCHIVE_SUBJECT,
            IMPORT_COMMAND,
            f"{source}: {len(meters)} meters, {planned.summary()}",
            data={"source": source, "meters": len(meters), **_counts(planned)},
        )
        done = run_audited(audit, intent, now, lambda: store.import_meters(meters))
    audit.complete(intent, "ok", done.summary(), at=now, data=_counts(done))
    return done


def exchange_meters(
    audit: AuditLog,
    archive_path: Path,
    exchange: MeterExchange,
    *,
    new_address: str | None,
    user: str,
    now: datetime,
) -> ArchiveMeter:
    """Record ``exchange`` after its intent (the crew's reads) is on disk; a new meter the
    archive does not list gets ``new_address`` and the old meter's place (``new_meter_row``).
    Returns the new meter's row; raises ``ArchiveError`` (audited ``refused``)."""
    intent = audit.begin(
        now,
        user,
        exchange.old_meter,
        EXCHANGE_COMMAND,
        f"{exchange.old_meter} -> {exchange.new_meter} at {exchange.at.isoformat()}"
        + (f" ({exchange.reason})" if exchange.reason else ""),
        data={
            "new_meter": exchange.new_meter,
            "at": exchange.at.isoformat(),
            "old_final": dict(exchange.old_final),
            "new_initial": dict(exchange.new_initial),
            "new_address": new_address,
            "reason": exchange.reason,
        },
    )

    def record() -> ArchiveMeter:
        with ArchiveStore.open(archive_path) as store:
            row = None
            if new_address is not None and store.meter(exchange.new_meter) is None:
                row = new_meter_row(
                    store.meter(exchange.old_meter), exchange.new_meter, new_address
                )
            store.record_exchange(exchange, row)
            recorded = store.meter(exchange.new_meter)
        assert recorded is not None
        return recorded

    recorded = run_audited(audit, intent, now, record)
    audit.complete(intent, "ok", at=now)
    return recorded


def run_audited(audit: AuditLog, intent: AuditEntry, now: datetime, act: Callable[[], T]) -> T:
    """``act()``, with its refusal (an ``ArchiveError``) or failure recorded as the intent's
    outcome: every change to the archive file, import, exchange or register edit, ends its
    audit entry the same way."""
    try:
        return act()
    except ArchiveError as exc:
        audit.complete(intent, "refused", str(exc), at=now)
        raise
    except Exception as exc:
        audit.complete(intent, "failed", f"{type(exc).__name__}: {exc}", at=now)
        raise


def _counts(diff: ArchiveDiff) -> dict[str, int]:
    return {
        "added": len(diff.added),
        "changed": len(diff.changed),
        "removed": len(diff.removed),
    }
