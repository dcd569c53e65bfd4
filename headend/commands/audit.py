"""The audit trail of every command that changes a meter: who, what, when, and the outcome.

Remote switching cuts a household's supply; a utility must be able to show for each trip who
ordered it and what the meter answered, even when the head-end died half-way. So a command is
written twice: an *intent* entry (fsync'd before the frame leaves) and an outcome entry linked
to it by ``ref``. Entries are appended to a JSON-lines file (fsync'd, one object per line, never
rewritten). At start the tail of the file is loaded, so ``/api/audit`` keeps its history across
restarts, and every intent the previous run left without an outcome gets one, ``unknown``: the
frame may or may not have reached the meter, and an operator has to look.

The fsync runs on the event loop on purpose: it costs milliseconds, commands are rare, and a
write handed to a thread could still land after its caller was cancelled, leaving an intent
for a command that was never sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headend.errors import ReadFailed
from storage.records import FailureReason

log = logging.getLogger(__name__)

INTENT = "intent"
"""The outcome of an entry written before the command acts; its outcome follows by ``ref``."""
UNKNOWN = "unknown"
STOPPED_BEFORE_OUTCOME = (
    "the head-end stopped before this command's outcome was recorded: it may have reached the "
    "meter; check the meter"
)
AUDIT_FILE = "audit.jsonl"
"""Its name in the data dir (``headend run`` and the ``headend archive`` commands)."""
DEFAULT_KEEP = 10_000
"""Entries kept in memory (and loaded from the file's tail at start) for the API."""


def new_entry_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user: str
    meter: str
    """The meter id, or ``*`` for a broadcast to every meter of a channel."""
    command: str
    outcome: str
    """intent, ok, refused, failed, unverified, unknown."""
    detail: str = ""
    id: str = field(default_factory=new_entry_id)
    ref: str = ""
    """For an outcome entry: the id of the intent it completes."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """Structured facts (old and new address, final and first readings of a replacement)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["data"] = dict(self.data)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], fallback_id: str = "") -> AuditEntry:
        """One line of the file back; raises ``KeyError``/``ValueError``/``TypeError`` if torn.

        ``fallback_id`` names lines written before entries had ids (stable across restarts)."""
        extra = data.get("data") or {}
        if not isinstance(extra, Mapping):
            raise TypeError("data is not an object")
        return cls(
            at=datetime.fromisoformat(str(data["at"])),
            user=str(data["user"]),
            meter=str(data["meter"]),
            command=str(data["command"]),
            outcome=str(data["outcome"]),
            detail=str(data.get("detail", "")),
            id=str(data.get("id") or fallback_id or new_entry_id()),
            ref=str(data.get("ref", "")),
            data=dict(extra),
        )


class AuditLog:
    def __init__(
        self,
        path: Path | None = None,
        keep: int = DEFAULT_KEEP,
        *,
        now: datetime | None = None,
    ) -> None:
        """Load the file's tail; intents of a previous run without an outcome are closed
        ``unknown`` at ``now`` (the start time)."""
        self.path = path
        self._recent: deque[AuditEntry] = deque(maxlen=keep)
        self.unreadable_lines = 0
        """Lines of the file that could not be parsed (a line torn by a crash mid-write)."""
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._load(path)
        self._close_orphans(now)

    @classmethod
    def appending(cls, path: Path) -> AuditLog:
        """A log that only appends to ``path``: for a one-shot command beside a running
        head-end (``headend archive``), which must neither read the file nor close the running
        head-end's intents as orphans (they are in flight, not lost)."""
        log = cls(None)
        log.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        return log

    def _load(self, path: Path) -> None:
        self._end_torn_line(path)
        keep = self._recent.maxlen or DEFAULT_KEEP
        for line in tail_lines(path, keep):
            text = line.decode("utf-8", errors="replace")
            try:
                legacy_id = hashlib.sha256(line).hexdigest()[:32]
                entry = AuditEntry.from_json(json.loads(text), legacy_id)
            except (ValueError, KeyError, TypeError) as exc:
                self.unreadable_lines += 1
                log.warning("%s: unreadable audit entry skipped: %s: %.80r", path, exc, text)
                continue
            self._recent.append(entry)

    @staticmethod
    def _end_torn_line(path: Path) -> None:
        """A crash mid-write leaves a line without its newline; end it, so the next entry
        starts a line of its own instead of being glued to the fragment."""
        with path.open("rb+") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                return
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
                handle.flush()
                os.fsync(handle.fileno())

    def _close_orphans(self, now: datetime | None) -> None:
        completed = {entry.ref for entry in self._recent if entry.ref}
        orphans = [e for e in self._recent if e.outcome == INTENT and e.id not in completed]
        for intent in orphans:
            log.warning(
                "audit: %s of meter %s by %s at %s has no recorded outcome",
                intent.command,
                intent.meter,
                intent.user,
                intent.at.isoformat(),
            )
            self.complete(intent, UNKNOWN, STOPPED_BEFORE_OUTCOME, at=now or intent.at)

    def append(self, entry: AuditEntry) -> None:
        """Durable before it returns: the line is fsync'd (a command acts only after this)."""
        if self.path is not None:
            line = json.dumps(entry.to_json(), ensure_ascii=False, default=str) + "\n"
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        self._recent.append(entry)

    def begin(
        self,
        at: datetime,
        user: str,
        meter: str,
        command: str,
        detail: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Record that ``user`` is about to run ``command``; call before anything is sent."""
        entry = AuditEntry(at, user, meter, command, INTENT, detail, data=dict(data or {}))
        self.append(entry)
        return entry

    def complete(
        self,
        intent: AuditEntry,
        outcome: str,
        detail: str = "",
        *,
        at: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at,
            intent.user,
            intent.meter,
            intent.command,
            outcome,
            detail,
            ref=intent.id,
            data=dict(data or {}),
        )
        self.append(entry)
        return entry

    def recent(
        self, meter: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[AuditEntry]:
        """Newest first, optionally only one meter's entries, one page of them."""
        entries = (e for e in reversed(self._recent) if meter is None or e.meter == meter)
        page: list[AuditEntry] = []
        for index, entry in enumerate(entries):
            if index < offset:
                continue
            if limit is not None and len(page) >= limit:
                break
            page.append(entry)
        return page


def outcome_of_error(error: BaseException, *, sent: bool) -> tuple[str, str]:
    """The audit outcome and detail of a command that raised ``error``.

    A command that never got the bus was not sent (``failed``); a refusal is certain; a lost
    or garbled reply, a lost link or anything unexpected after sending leaves open whether
    the meter acted (``unknown``)."""
    if isinstance(error, ReadFailed):
        detail = error.detail
        if error.reason is FailureReason.ERROR_RESPONSE:
            return "refused", detail
    else:
        detail = f"{type(error).__name__}: {error}"
    if not sent:
        return "failed", f"not sent: {detail}"
    return "unknown", detail


def tail_lines(path: Path, count: int, block: int = 64 * 1024) -> list[bytes]:
    """The last ``count`` non-empty lines, read backwards from the end: a start after years
    of operation reads the tail it keeps, not the whole file."""
    with path.open("rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        chunks: list[bytes] = []
        newlines = 0
        while position > 0 and newlines <= count:
            step = min(block, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
    lines = b"".join(reversed(chunks)).split(b"\n")
    if position > 0:
        lines = lines[1:]  # the first piece may be the end of an older line
    return [line for line in lines if line.strip()][-count:]
