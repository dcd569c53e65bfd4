"""An operator's edit of a register read: audited (fsync'd) before it is stored, then kept in
the archive file, where it wins over the stored value (``storage.vee.reads``).

Why through the audit trail like a command to a meter: an edit changes what a customer is
billed. The intent is on disk before the archive changes, so an edit can never be in force
without a record of who made it and why; a refused edit gets its ``refused`` outcome.

The archive write runs on the event loop, as the audit's fsync does: it takes milliseconds,
edits are rare, and a write handed to a thread could land after its caller was cancelled.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from headend.commands.archive_changes import run_audited
from headend.commands.audit import AuditLog
from storage.archive.edits import RegisterEdit
from storage.archive.store import ArchiveStore

COMMAND = "register edit"


def record_register_edit(
    audit: AuditLog, archive_path: Path, edit: RegisterEdit, now: datetime
) -> RegisterEdit:
    """Audit, then store ``edit``; returns it with its audit entry's id. Raises
    ``ArchiveError`` (recorded as ``refused``) for an edit the archive will not keep."""
    intent = audit.begin(
        now,
        edit.user,
        edit.meter,
        COMMAND,
        f"{edit.quantity} of {edit.day}: {edit.value} ({edit.reason})",
        data={
            "day": edit.day.isoformat(),
            "quantity": edit.quantity,
            "value": edit.value,
            "reason": edit.reason,
        },
    )
    kept = replace(edit, audit_id=intent.id)

    def store_edit() -> None:
        with ArchiveStore.open(archive_path) as archive:
            archive.record_edit(kept)

    run_audited(audit, intent, now, store_edit)
    audit.complete(intent, "ok", at=now)
    return kept
