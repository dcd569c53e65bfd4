"""A DL/T 645 meter's daily frozen records (``0506xxNN``: NN = 1 is the latest freeze).

The catalogue's ``frozen_`` names only select the identifiers to read: a frozen value is
stored under the name of the register it froze (``energy_active_import_total``) with
``ReadingKind.FROZEN``, and the freeze time is the readings' timestamp, not a value of its own
(``headend.collection.backfill`` explains the scheme and drives the passes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from headend.bus.link import BusLink
from headend.drivers.base import FrozenDay
from headend.drivers.dlt645.editions import address_of, standard_of
from headend.drivers.dlt645.session import read_payload
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import catalogue
from storage.records import FailureReason, Quality, Reading, ReadingKind

FROZEN_TIME = "frozen_time"
FROZEN_ENERGY = "frozen_energy_active_import"
FROZEN_PREFIX = "frozen_"


def stored_name(catalogue_name: str) -> str:
    """The name a frozen value is stored under: the register it froze."""
    return catalogue_name.removeprefix(FROZEN_PREFIX)


async def read_frozen_record(
    link: BusLink,
    meter: MeterSettings,
    record: int,
    tz: ZoneInfo,
    *,
    quality: Quality,
    reply_timeout: float,
) -> FrozenDay:
    """Read freeze number ``record`` (1 = latest) of one meter: its time and energy block."""
    standard = standard_of(meter.protocol)
    address = address_of(meter)
    table = catalogue(standard)
    time_item = table.by_name(FROZEN_TIME)
    energy_item = table.by_name(FROZEN_ENERGY)
    raw_time = await read_payload(
        link, address, time_item.di_for(record), standard, reply_timeout=reply_timeout
    )
    frozen_wall = time_item.decode(raw_time)
    if not isinstance(frozen_wall, datetime):
        raise ReadFailed(
            FailureReason.NOT_AVAILABLE, f"meter {meter.id}: freeze {record} has no time"
        )
    frozen_at = frozen_wall.replace(tzinfo=tz)
    raw_energy = await read_payload(
        link, address, energy_item.di_for(record), standard, reply_timeout=reply_timeout
    )
    values = energy_item.decode(raw_energy)
    members = values if isinstance(values, Mapping) else {energy_item.members[0]: values}
    tags = meter.tags()
    readings = []
    for name, value in members.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            readings.append(
                Reading(
                    meter.id,
                    stored_name(name),
                    float(value),
                    energy_item.unit,
                    frozen_at,
                    kind=ReadingKind.FROZEN,
                    quality=quality,
                    tags=tags,
                )
            )
    return FrozenDay(frozen_wall.date(), frozen_at, tuple(readings))
