"""Reading quantities of a DL/T 645 meter: which identifiers to ask for, and what came back.

DL/T 645 carries one identifier per request, and at 2400 baud each exchange costs ~0.1-0.3 s
of bus time, so the plan prefers a block read (``0201FF00``: all three voltages in one
exchange) whenever it covers two or more wanted quantities and the meter supports blocks.
Values the meter marks unusable (0xFF fill, invalid BCD) become missing readings with reason
``not_available``; a meter that refuses an identifier ("no requested data") yields missing
readings for that identifier only, and the other identifiers are still read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from headend.bus.link import BusLink
from headend.drivers.dlt645.editions import address_of, standard_of
from headend.drivers.dlt645.session import read_payload
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import (
    Address,
    DataItem,
    Decoded,
    Frame,
    NotAvailable,
    Standard,
    UnknownIdentifier,
    catalogue,
)
from protocols.dlt645.exchange import read_request
from storage.records import FailureReason, Reading, ReadingKind


@dataclass(frozen=True, slots=True)
class PlannedRead:
    item: DataItem
    quantities: tuple[str, ...]
    """Which of the wanted quantities this identifier answers (members of a block)."""


@cache
def _blocks(standard: Standard) -> Mapping[str, DataItem]:
    """Quantity name -> the block item that contains it."""
    return {
        member: item for item in catalogue(standard) if item.is_block for member in item.members
    }


@cache
def plan_dlt645(
    quantities: tuple[str, ...], standard: Standard, use_blocks: bool = True
) -> tuple[PlannedRead, ...]:
    """The identifiers to read for ``quantities``; raises ``UnknownIdentifier`` for a name
    the catalogue does not have (caught at config load, not at 03:00)."""
    table = catalogue(standard)
    for name in quantities:
        table.by_name(name)
    plan: list[PlannedRead] = []
    done: set[str] = set()
    if use_blocks:
        by_block: dict[int, list[str]] = {}
        blocks = _blocks(standard)
        for name in quantities:
            block = blocks.get(name)
            if block is not None:
                by_block.setdefault(block.di, []).append(name)
        for di, names in by_block.items():
            if len(names) >= 2:
                plan.append(PlannedRead(table.lookup(di), tuple(names)))
                done.update(names)
    for name in quantities:
        if name not in done:
            plan.append(PlannedRead(table.by_name(name), (name,)))
    return tuple(plan)


@dataclass(frozen=True, slots=True)
class _PreparedRead:
    """One planned identifier with what every reading of it carries, looked up once."""

    item: DataItem
    quantities: tuple[str, ...]
    kind: ReadingKind
    block: bool
    request: tuple[Frame, bytes]
    """The request frame and its bytes (``read_request``)."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a meter's read of some quantities needs besides the bytes: worked out once per
    meter and read spec, not once per slot (the tags dict, the address, the plan)."""

    meter: MeterSettings
    address: Address
    standard: Standard
    tags: Mapping[str, str]
    reads: tuple[_PreparedRead, ...]


_PREPARED: dict[tuple[str, tuple[str, ...], bool], _Prepared] = {}
"""(meter id, quantities, blocks) -> its prepared read, kept while that ``MeterSettings`` object
is the meter's (a fleet change makes a new one, which replaces the entry on its next read):
one entry per meter and read spec, so the cost stays linear in the fleet."""


def _prepared(meter: MeterSettings, quantities: tuple[str, ...], use_blocks: bool) -> _Prepared:
    key = (meter.id, quantities, use_blocks)
    prepared = _PREPARED.get(key)
    if prepared is not None and prepared.meter is meter:
        return prepared
    standard = standard_of(meter.protocol)
    address = address_of(meter)
    reads = tuple(
        _PreparedRead(
            planned.item,
            planned.quantities,
            ReadingKind(planned.item.kind),
            planned.item.is_block,
            read_request(address, planned.item.di, standard),
        )
        for planned in plan_dlt645(quantities, standard, use_blocks)
    )
    prepared = _Prepared(meter, address, standard, meter.tags(), reads)
    _PREPARED[key] = prepared
    return prepared


async def read_dlt645(
    link: BusLink,
    meter: MeterSettings,
    quantities: Sequence[str],
    slot: datetime,
    *,
    reply_timeout: float,
    use_blocks: bool = True,
) -> list[Reading]:
    """Readings for ``quantities`` stamped ``slot``; raises ``ReadFailed`` when the meter does
    not answer properly, so the bus worker retries and completeness counts the reason."""
    prepared = _prepared(meter, tuple(quantities), use_blocks)
    tags = prepared.tags
    readings: list[Reading] = []
    for planned in prepared.reads:
        item = planned.item
        try:
            payload = await read_payload(
                link,
                prepared.address,
                item.di,
                prepared.standard,
                reply_timeout=reply_timeout,
                request=planned.request,
            )
        except ReadFailed as exc:
            if exc.reason is not FailureReason.ERROR_RESPONSE:
                raise
            for name in planned.quantities:
                readings.append(_missing(meter, item, name, slot, exc.reason, tags))
            continue
        try:
            decoded = item.decode(payload)
        except UnknownIdentifier as exc:  # pragma: no cover - plan only names known items
            raise ReadFailed(FailureReason.UNSUPPORTED, str(exc)) from exc
        except ValueError as exc:
            raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: {exc}") from exc
        for name in planned.quantities:
            value: object
            if planned.block:
                assert isinstance(decoded, Mapping)
                value = decoded.get(name, _NOT_SENT)
            else:
                value = decoded
            if isinstance(value, float):  # the usual case, without the checks below
                readings.append(
                    Reading(meter.id, name, value, item.unit, slot, planned.kind, tags=tags)
                )
            else:
                readings.append(_reading(meter, item, name, decoded, slot, tags))
    return readings


_NOT_SENT = NotAvailable("member not sent by the meter")


def _value_of(item: DataItem, name: str, decoded: Decoded) -> object:
    if item.is_block:
        assert isinstance(decoded, Mapping)
        return decoded.get(name, _NOT_SENT)
    return decoded


def _reading(
    meter: MeterSettings,
    item: DataItem,
    name: str,
    decoded: Decoded,
    slot: datetime,
    tags: Mapping[str, str],
) -> Reading:
    value = _value_of(item, name, decoded)
    kind = ReadingKind(item.kind)
    if isinstance(value, bool) or not isinstance(value, int | float):
        reason = str(value) if isinstance(value, NotAvailable) else "not a number"
        return Reading.missing(
            meter.id, name, item.unit, slot, f"not_available: {reason}", kind=kind, tags=tags
        )
    return Reading(meter.id, name, float(value), item.unit, slot, kind=kind, tags=tags)


def _missing(
    meter: MeterSettings,
    item: DataItem,
    name: str,
    slot: datetime,
    reason: FailureReason,
    tags: Mapping[str, str],
) -> Reading:
    return Reading.missing(
        meter.id, name, item.unit, slot, reason.value, kind=ReadingKind(item.kind), tags=tags
    )
