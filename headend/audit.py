"""The audit trail of every command that changes a meter: who, what, when, and the outcome.

Remote switching cuts a household's supply; a utility must be able to show for each trip who
ordered it and what the meter answered. Entries are appended to a JSON-lines file (fsync'd,
one object per line, never rewritten) and kept in memory for the API.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    user: str
    meter: str
    command: str
    outcome: str
    """ok, refused, failed, unverified."""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


class AuditLog:
    def __init__(self, path: Path | None = None, keep: int = 1000) -> None:
        self.path = path
        self._recent: deque[AuditEntry] = deque(maxlen=keep)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, entry: AuditEntry) -> None:
        self._recent.append(entry)
        if self.path is None:
            return
        line = json.dumps(entry.to_json(), ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def recent(self) -> list[AuditEntry]:
        return list(reversed(self._recent))
