"""A DL/T 645 meter's event log (03xxxxxx, 1D/1E relay operations) as stored events.

A meter keeps the last records of each event kind (DI0 = 01..0A, 01 the newest): a start
(or the one time of a point event: a clear, a programming, a relay operation), an end once the
event is over, and energies and counters at those moments. Each record becomes an
``EventRecord`` at its start (``active``) and, once it has one, another at its end (not
``active``, its duration in seconds as the value), so durations can be computed from the stored
stream as for the head-end's own events. Storage keys events by (meter, event, time), so a
record read twice is stored once: a restart that reads the log again duplicates nothing.

The meter's times are zone-less wall time; the caller gives the meter's zone. Records are read
newest first and the read stops at the first one already stored with its end (older ones are
older still), at the first empty record ("no requested data", or an all-zero record whose start
is not a date), or after the item's ``history``: a daily read costs one exchange per kind once
the log is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from headend.bus.link import BusLink
from headend.drivers.base import LoggedEvent, MeterProblem
from headend.drivers.dlt645.editions import address_of, standard_of
from headend.drivers.dlt645.session import read_payload
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import DataItem, ErrorWord, Standard, UnknownIdentifier, catalogue
from protocols.errors import ProtocolError
from storage.records import EventRecord, FailureReason, Quality, Severity

_STARTS = ("_start", "_time")
_END = "_end"
_CUT_FROM_DETAIL = frozenset({*_STARTS, _END})


@cache
def event_kinds(standard: Standard) -> frozenset[str]:
    """The catalogue items that are event logs: a history of records with a start time."""
    return frozenset(item.name for item in catalogue(standard) if _start_name(item) is not None)


def _start_name(item: DataItem) -> str | None:
    """The value name holding a record's start, or None if ``item`` is not an event log."""
    if not item.history or item.kind != "state" or item.di >> 16 == 0x0506:
        return None
    names = item.value_names()
    if names == (item.name,):
        return item.name if not item.format.is_numeric else None  # a point event's time
    for suffix in _STARTS:
        if item.name + suffix in names:
            return item.name + suffix
    return None


def event_problem(standard: Standard, kinds: tuple[str, ...]) -> MeterProblem | None:
    known = event_kinds(standard)
    for kind in kinds:
        if kind not in known:
            listed = ", ".join(sorted(known))
            return MeterProblem(
                "events",
                f"events: {kind!r} is not an event log of DL/T 645-{standard.value} "
                f"(known: {listed})",
            )
    return None


async def read_event_log(
    link: BusLink,
    meter: MeterSettings,
    kind: str,
    tz: ZoneInfo,
    *,
    known: Callable[[datetime], bool],
    reply_timeout: float,
) -> list[LoggedEvent]:
    """Records of ``kind``, newest first, until one ``known`` (stored with its end)."""
    standard = standard_of(meter.protocol)
    try:
        item = catalogue(standard).by_name(kind)
    except UnknownIdentifier:
        raise ReadFailed(
            FailureReason.UNSUPPORTED, f"meter {meter.id}: no event log {kind!r}"
        ) from None
    start_name = _start_name(item)
    if start_name is None:
        raise ReadFailed(FailureReason.UNSUPPORTED, f"meter {meter.id}: {kind!r} is no event log")
    address = address_of(meter)
    found: list[LoggedEvent] = []
    for record in range(1, item.history + 1):
        di = item.di_for(record)
        try:
            payload = await read_payload(link, address, di, standard, reply_timeout=reply_timeout)
        except ReadFailed as exc:
            if exc.error_word is not None and exc.error_word & ErrorWord.NO_DATA:
                break  # fewer records than the item keeps: the log ends here
            raise
        try:
            decoded = item.decode(payload)
        except (ProtocolError, ValueError) as exc:
            raise ReadFailed(
                FailureReason.MALFORMED, f"meter {meter.id}: DI {di:08X} ({kind}): {exc}"
            ) from None
        values = decoded if isinstance(decoded, Mapping) else {item.name: decoded}
        start_wall = values.get(start_name)
        if not isinstance(start_wall, datetime):
            break  # an empty record (zeros or 0xFF fill): no older ones either
        start = start_wall.replace(tzinfo=tz)
        if known(start):
            break
        end_wall = values.get(item.name + _END)
        end = end_wall.replace(tzinfo=tz) if isinstance(end_wall, datetime) else None
        found.append(_logged(meter, kind, di, record, start, end, values))
    return found


def _logged(
    meter: MeterSettings,
    kind: str,
    di: int,
    record: int,
    start: datetime,
    end: datetime | None,
    values: Mapping[str, object],
) -> LoggedEvent:
    fields = ", ".join(
        f"{name.removeprefix(kind).lstrip('_')}={value}"
        for name, value in values.items()
        if name != kind and not name.endswith(tuple(_CUT_FROM_DETAIL))
    )
    where = f"DI {di:08X} (record {record})"
    detail = f"{where}: {fields}" if fields else where
    tags = meter.tags()
    opened = EventRecord(
        meter.id,
        kind,
        start,
        Severity.INFO,
        active=True,
        detail=detail,
        quality=Quality.ACTUAL,
        tags=tags,
    )
    records = [opened]
    if end is not None:
        duration = (end - start).total_seconds()
        records.append(
            EventRecord(
                meter.id,
                kind,
                end,
                Severity.INFO,
                active=False,
                value=duration,
                detail=where,
                quality=Quality.ACTUAL,
                tags=tags,
            )
        )
    over = end is not None or kind + _END not in values  # a point event is over at once
    return LoggedEvent(kind, start, end, tuple(records), over)
