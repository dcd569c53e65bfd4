"""A DL/T 645-2007 meter's load profile read into readings at their interval slots (补抄).

The building block of interval backfill: records from a start slot, each value a reading
stamped with the record's own time (the meter's wall clock in the fleet's zone, as frozen
records are) with quality ``backfilled``, under the same quantity names as the live reads so
it lands in the same series. A value the meter does not hold (0xFF fill) gives no reading:
the slot's MISSING reading stays what it was. Records the meter marks bad are counted.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from headend.bus.link import BusLink
from headend.drivers.dlt645.editions import address_of, standard_of
from headend.drivers.dlt645.session import read_payload
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import Standard, encode
from protocols.dlt645.load_profile import (
    LoadProfileError,
    LoadProfileQuery,
    LoadProfileRequest,
    Mode,
    class_of,
    parse_records,
    unit_of,
)
from storage.records import FailureReason, Quality, Reading, ReadingKind


@dataclass(frozen=True, slots=True)
class ProfileRead:
    readings: tuple[Reading, ...]
    slots: tuple[datetime, ...]
    """UTC times of the records read (with or without a wanted value)."""
    bad_blocks: int = 0


def _kind(quantity: str) -> ReadingKind:
    return ReadingKind.ENERGY if quantity.startswith("energy_") else ReadingKind.INSTANT


def profile_class_for(quantities: Collection[str]) -> int:
    """One class when every wanted quantity is in it (a shorter reply), else 0 (all six)."""
    classes = {class_of(q) for q in quantities}
    return classes.pop() if len(classes) == 1 else 0


async def read_load_profile(
    link: BusLink,
    meter: MeterSettings,
    start: datetime,
    count: int,
    tz: ZoneInfo,
    quantities: Collection[str],
    *,
    reply_timeout: float,
) -> ProfileRead:
    """``count`` records from the slot at ``start`` (aware); ``quantities`` are those wanted.

    Raises ``ReadFailed`` (refused, silent, or a reply that does not parse: MALFORMED)."""
    standard = standard_of(meter.protocol)
    if standard is not Standard.DLT645_2007:
        raise ReadFailed(
            FailureReason.NOT_AVAILABLE, f"meter {meter.id}: DL/T 645-1997 has no load profile"
        )
    address = address_of(meter)
    wall = start.astimezone(tz).replace(tzinfo=None)
    query = LoadProfileQuery(profile_class_for(quantities), Mode.GIVEN_TIME, wall, count)
    frame = LoadProfileRequest(address, query).to_frame()
    payload = await read_payload(
        link,
        address,
        query.di,
        standard,
        reply_timeout=reply_timeout,
        request=(frame, encode(frame)),
    )
    try:
        profile = parse_records(payload, query.profile_class)
    except LoadProfileError as exc:
        raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: {exc}") from None
    tags = meter.tags()
    readings: list[Reading] = []
    slots: list[datetime] = []
    for record in profile.records:
        at = record.time.replace(tzinfo=tz).astimezone(UTC)
        slots.append(at)
        for name in quantities:
            value = record.values.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            readings.append(
                Reading(
                    meter.id,
                    name,
                    float(value),
                    unit_of(name),
                    at,
                    kind=_kind(name),
                    quality=Quality.BACKFILLED,
                    tags=tags,
                )
            )
    return ProfileRead(tuple(readings), tuple(slots), profile.bad_blocks)
