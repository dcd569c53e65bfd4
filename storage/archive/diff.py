"""What an archive import changes: meters added, changed (field by field) and removed.

Shown by ``--dry-run`` and by the API's diff before anyone commits a spreadsheet that would
drop half a community.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from storage.archive.records import ArchiveMeter


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class MeterChange:
    id: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class ArchiveDiff:
    added: tuple[str, ...]
    changed: tuple[MeterChange, ...]
    removed: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed"

    def lines(self) -> list[str]:
        """One line per change, for the CLI."""
        out = [f"+ {meter_id}" for meter_id in self.added]
        for change in self.changed:
            parts = ", ".join(f"{c.field}: {c.old!s} -> {c.new!s}" for c in change.changes)
            out.append(f"~ {change.id}: {parts}")
        out.extend(f"- {meter_id}" for meter_id in self.removed)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "changed": [
                {
                    "id": change.id,
                    "fields": {
                        c.field: {"old": _plain(c.old), "new": _plain(c.new)}
                        for c in change.changes
                    },
                }
                for change in self.changed
            ],
            "removed": list(self.removed),
            "summary": self.summary(),
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


_NAMES = tuple(f.name for f in fields(ArchiveMeter))


def diff_meters(old: Sequence[ArchiveMeter], new: Sequence[ArchiveMeter]) -> ArchiveDiff:
    before = {meter.id: meter for meter in old}
    after = {meter.id: meter for meter in new}
    changed: list[MeterChange] = []
    for meter_id in sorted(before.keys() & after.keys()):
        a, b = before[meter_id], after[meter_id]
        if a == b:
            continue
        changes = tuple(
            FieldChange(name, getattr(a, name), getattr(b, name))
            for name in _NAMES
            if getattr(a, name) != getattr(b, name)
        )
        changed.append(MeterChange(meter_id, changes))
    return ArchiveDiff(
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(changed),
        removed=tuple(sorted(before.keys() - after.keys())),
    )
