"""What storage actually writes, derived from its own encoder rather than copied by hand.

Dashboards must name only measurements, tags, fields and quantities that exist. Encoding one
fully populated record of every kind with ``storage.line_protocol.LineEncoder`` and reading the
keys back means a rename in storage fails these tests instead of leaving a blank panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from headend.config.terminal_points import CANONICAL as TERMINAL_UNITS
from headend.config.terminal_points import DEFAULT_TERMINAL_NAMES
from protocols.dlt645.catalogue import catalogue
from protocols.dlt645.control import Standard
from protocols.modbus.maps import builtin_map_names, builtin_register_map
from storage.line_protocol import LineEncoder
from storage.records import (
    CollectionOutcome,
    CollectionStatus,
    EventRecord,
    Quality,
    Reading,
    ReadingKind,
    Severity,
)
from storage.schema import (
    COLLECTION_MEASUREMENT,
    EVENT_MEASUREMENT,
    MEASUREMENT_BY_KIND,
    STANDARD_TAGS,
    Record,
)

FLUX_COLUMNS = frozenset({"_time", "_start", "_stop", "_value", "_field", "_measurement"})
"""Columns every Flux table has, whatever was written."""


@dataclass(frozen=True, slots=True)
class MeasurementShape:
    tags: frozenset[str]
    fields: frozenset[str]


def _sample_records() -> list[Record]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    tags = {tag: f"sample-{tag}" for tag in STANDARD_TAGS}
    records: list[Record] = []
    for kind in ReadingKind:
        records.append(Reading("M1", "voltage_a", 230.0, "V", at, kind, Quality.ACTUAL, None, tags))
        records.append(Reading.missing("M1", "voltage_a", "V", at, "timeout", kind=kind, tags=tags))
    records.append(
        EventRecord(
            "M1", "voltage_low", at, Severity.WARNING, True, 190.0, "below-198-V", tags=tags
        )
    )
    records.append(
        CollectionStatus("M1", at, CollectionOutcome.PARTIAL, 4, 3, 0.2, "timeout", tags=tags)
    )
    return records


def _split_line(line: str) -> tuple[str, set[str], set[str]]:
    """Measurement, tag keys and field keys of a line (the samples contain no escapes)."""
    series, field_set, _timestamp = line.rsplit(" ", 2)
    measurement, *tag_pairs = series.split(",")
    tags = {pair.split("=", 1)[0] for pair in tag_pairs}
    fields = {pair.split("=", 1)[0] for pair in field_set.split(",")}
    return measurement, tags, fields


@cache
def stored_measurements() -> dict[str, MeasurementShape]:
    """Measurement name -> the tag and field keys storage writes to it."""
    seen: dict[str, tuple[set[str], set[str]]] = {}
    for line in LineEncoder().encode_many(_sample_records()):
        measurement, tags, fields = _split_line(line)
        known_tags, known_fields = seen.setdefault(measurement, (set(), set()))
        known_tags |= tags
        known_fields |= fields
    expected = {*MEASUREMENT_BY_KIND.values(), EVENT_MEASUREMENT, COLLECTION_MEASUREMENT}
    if set(seen) != expected:
        raise AssertionError(f"samples cover {sorted(seen)}, schema has {sorted(expected)}")
    return {
        name: MeasurementShape(frozenset(tags), frozenset(fields))
        for name, (tags, fields) in seen.items()
    }


def all_tags() -> frozenset[str]:
    """Every tag key storage writes to any measurement."""
    tags: set[str] = set()
    for shape in stored_measurements().values():
        tags |= shape.tags
    return frozenset(tags)


def all_fields() -> frozenset[str]:
    """Every field key storage writes to any measurement."""
    fields: set[str] = set()
    for shape in stored_measurements().values():
        fields |= shape.fields
    return frozenset(fields)


@cache
def known_quantities() -> frozenset[str]:
    """Every quantity name a source can produce: DL/T 645 catalogue, Modbus maps, terminals."""
    names: set[str] = set()
    for standard in Standard:
        for item in catalogue(standard):
            names.add(item.name)
            names.update(item.members)
    for map_name in builtin_map_names():
        names.update(builtin_register_map(map_name).quantities)
    names.update(DEFAULT_TERMINAL_NAMES.values())
    names.update(TERMINAL_UNITS)
    return frozenset(names)
