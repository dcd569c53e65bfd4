"""The storage schema in one place: measurement names, reserved tags and the record union.

docs/storage.md describes the same schema for people; keep the two in step.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from storage.records import CollectionStatus, EventRecord, Reading, ReadingKind

Record: TypeAlias = Reading | EventRecord | CollectionStatus
"""Anything a sink accepts."""

MEASUREMENT_BY_KIND: Final[dict[ReadingKind, str]] = {
    ReadingKind.ENERGY: "energy",
    ReadingKind.INSTANT: "instant",
    ReadingKind.FROZEN: "frozen",
    ReadingKind.STATE: "state",
}
EVENT_MEASUREMENT: Final = "event"
COLLECTION_MEASUREMENT: Final = "collection"

STANDARD_TAGS: Final = ("transformer", "building", "channel", "phase")
"""Fleet-position tags every producer should fill when it knows them (all optional)."""

RESERVED_TAGS: Final = frozenset({"meter", "quantity", "unit", "event", "severity"})
"""Tags set from record fields; a record's free-form ``tags`` may not override them."""

RESERVED_FIELDS: Final = frozenset({"value", "quality", "reason"})
