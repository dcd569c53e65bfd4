"""The load profile (06xxxxxx) a simulated meter keeps: one record per interval slot.

Ground truth is the meter's ``ValueSource``: the record stamped at wall-clock slot ``T``
holds the source's values at ``T`` in UTC (the meter's configured zone), so a head-end test
compares a backfilled value with ``source.value(quantity, slot)``. The meter records a class
when its source measures at least one of the class's quantities (its load record mode word);
a quantity it does not measure goes out as the 0xFF fill.

A source that can only say what holds now (``has_history = False``: the community model,
which only moves forward) gives no records: the meter answers "no requested data" rather
than stamp today's values on past slots.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocols.dlt645.errors import EncodeError
from protocols.dlt645.load_profile import (
    CLASSES,
    LoadProfileQuery,
    LoadRecord,
    Mode,
    encode_record,
)
from protocols.dlt645.values import NotAvailable, Value
from simulators.dlt645.sources import ValueSource

RETENTION = timedelta(days=10)
"""How far back the simulated meter keeps records (real meters: days to months)."""


def slot_floor(wall: datetime, interval: timedelta) -> datetime:
    """The latest slot at or before ``wall`` (slots are aligned to local midnight)."""
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + (wall - midnight) // interval * interval


def record_at(
    slot: datetime, source: ValueSource, utc_offset: timedelta, classes: frozenset[int]
) -> tuple[LoadRecord, frozenset[int]]:
    """The record at wall-clock ``slot`` and the classes it holds."""
    at = (slot - utc_offset).replace(tzinfo=UTC)
    values: dict[str, Value] = {}
    held: set[int] = set()
    for cls in CLASSES:
        if cls.number not in classes:
            continue
        for name, fmt in cls.fields:
            value = source.value(name, at)
            if value is None:
                continue
            try:
                fmt.encode(value)
            except EncodeError:
                values[name] = NotAvailable("out of range")
                continue
            values[name] = value
            held.add(cls.number)
    return LoadRecord(slot, values), frozenset(held)


def profile_payload(
    query: LoadProfileQuery,
    source: ValueSource,
    *,
    wall_now: datetime,
    utc_offset: timedelta,
    interval: timedelta,
) -> bytes | None:
    """The reply data (after the DI) for ``query``; None when no record matches."""
    if not getattr(source, "has_history", True):
        return None
    latest = slot_floor(wall_now, interval)
    earliest = slot_floor(latest - RETENTION, interval) + interval
    match query.mode:
        case Mode.EARLIEST:
            first = earliest
        case Mode.LATEST:
            first = max(earliest, latest - (query.count - 1) * interval)
        case _:
            assert query.start is not None  # LoadProfileQuery checks the pairing
            first = max(earliest, slot_floor(query.start, interval))
            if first < query.start:
                first += interval
    classes = frozenset({query.profile_class}) if query.profile_class else frozenset(range(1, 7))
    payload = bytearray()
    slot = first
    for _ in range(query.count):
        if slot > latest:
            break
        record, held = record_at(slot, source, utc_offset, classes)
        payload += encode_record(record, held)
        slot += interval
    return bytes(payload) or None
