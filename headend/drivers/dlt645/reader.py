"""Reading quantities of a DL/T 645 meter: which identifiers to ask for, and what came back.

DL/T 645 carries one identifier per request, and at 2400 baud each exchange costs ~0.1-0.3 s
of bus time, so the plan prefers a block read (``0201FF00``: all three voltages in one
exchange) whenever it covers two or more wanted quantities and the meter supports blocks.
Values the meter marks unusable (0xFF fill, invalid BCD) become missing readings with reason
``not_available``; a meter that refuses an identifier ("no requested data") yields missing
readings for that identifier only, and the other identifiers are still read.

Many meters refuse blocks (an error word, an empty reply, or silence while single items
answer). The read then falls back to the block's members one by one in the same slot, and
the meter's ``BlockSupportBook`` remembers it, so later slots plan single items for that
meter from the start. A reply whose length does not fit its format (a voltage in 3 bytes, a
tariff block with more tariffs than the catalogue lists) fails that identifier with the
reason; a block that does not decode falls back to single items like a refused one. Neither
fails the meter's other identifiers.

A record item (``fields`` in the catalogue: demand is a value and the time it occurred, an
event its start, end and energies) gives one reading per numeric field, named
``<quantity><suffix>`` in the field's own unit, stamped with the slot like every other read
register. Its time fields are the meter's zone-less wall time, so they are not timestamps
(the reader does not know the meter's zone): they ride on those readings as tags
``record<suffix>`` (``record_time=2026-03-05T14:15:00``), which keeps "this maximum, read at the
slot, occurred then" in one point. A time field the meter marks unusable is left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache

from headend.bus.link import BusLink
from headend.drivers.block_support import BlockSupport, BlockSupportBook
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
    Value,
    catalogue,
)
from protocols.dlt645.exchange import read_request
from protocols.dlt645.values import Encoding
from protocols.errors import ProtocolError
from storage.records import FailureReason, Reading, ReadingKind

log = logging.getLogger(__name__)


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
    quantities: tuple[str, ...],
    standard: Standard,
    use_blocks: bool = True,
    refused: frozenset[str] = frozenset(),
) -> tuple[PlannedRead, ...]:
    """The identifiers to read for ``quantities``, without the blocks labelled in ``refused``
    (the meter's); raises ``UnknownIdentifier`` for a name the catalogue does not have (caught
    at config load, not at 03:00)."""
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
            if len(names) >= 2 and table.lookup(di).label() not in refused:
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
    label: str
    """The identifier as printed (``0201FF00``): the block support book's key."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a meter's read of some quantities needs besides the bytes: worked out once per
    meter and read spec, not once per slot (the tags dict, the address, the plan)."""

    meter: MeterSettings
    address: Address
    standard: Standard
    tags: Mapping[str, str]
    reads: tuple[_PreparedRead, ...]
    refused: frozenset[str]


_PREPARED: dict[tuple[str, tuple[str, ...], bool], _Prepared] = {}
"""(meter id, quantities, blocks) -> its prepared read, kept while that ``MeterSettings`` object
is the meter's (a fleet change makes a new one, which replaces the entry on its next read):
one entry per meter and read spec, so the cost stays linear in the fleet."""


def _prepared(
    meter: MeterSettings, quantities: tuple[str, ...], use_blocks: bool, refused: frozenset[str]
) -> _Prepared:
    key = (meter.id, quantities, use_blocks)
    prepared = _PREPARED.get(key)
    if prepared is not None and prepared.meter is meter and prepared.refused == refused:
        return prepared
    standard = standard_of(meter.protocol)
    address = address_of(meter)
    reads = tuple(
        _prepared_read(planned, address, standard)
        for planned in plan_dlt645(quantities, standard, use_blocks, refused)
    )
    prepared = _Prepared(meter, address, standard, meter.tags(), reads, refused)
    _PREPARED[key] = prepared
    return prepared


def _prepared_read(planned: PlannedRead, address: Address, standard: Standard) -> _PreparedRead:
    return _PreparedRead(
        planned.item,
        planned.quantities,
        ReadingKind(planned.item.kind),
        planned.item.is_block,
        read_request(address, planned.item.di, standard),
        planned.item.label(),
    )


def _members(prepared: _Prepared, block: _PreparedRead) -> tuple[_PreparedRead, ...]:
    """The single-item reads of a block's wanted members (the fallback)."""
    table = catalogue(prepared.standard)
    return tuple(
        _prepared_read(
            PlannedRead(table.by_name(name), (name,)), prepared.address, prepared.standard
        )
        for name in block.quantities
    )


async def read_dlt645(
    link: BusLink,
    meter: MeterSettings,
    quantities: Sequence[str],
    slot: datetime,
    *,
    reply_timeout: float,
    use_blocks: bool = True,
    support: BlockSupportBook | None = None,
) -> list[Reading]:
    """Readings for ``quantities`` stamped ``slot``; raises ``ReadFailed`` when the meter does
    not answer properly, so the bus worker retries and completeness counts the reason.
    ``support`` is where what the meter shows of block reads is learned and remembered."""
    if slot.tzinfo is None:  # checked once here: the readings are built with ``Reading.actual``
        raise ValueError(f"meter {meter.id}: slot {slot} must be timezone-aware (UTC)")
    book = support if support is not None else BlockSupportBook(probe=False)
    prepared = _prepared(meter, tuple(quantities), use_blocks, book.refused(meter.id))
    readings: list[Reading] = []
    for planned in prepared.reads:
        # ``read_payload`` awaited here, not in a helper per identifier: every frame in a
        # read's await chain is walked again each time the read resumes. Only the rare paths
        # (a refused block, its fallback) are coroutines of their own.
        try:
            payload = await read_payload(
                link,
                prepared.address,
                planned.item.di,
                prepared.standard,
                reply_timeout=reply_timeout,
                request=planned.request,
            )
        except ReadFailed as exc:
            if planned.block:
                await _block_failed(
                    link, prepared, planned, slot, book, exc, reply_timeout, readings
                )
            elif exc.reason is FailureReason.ERROR_RESPONSE:
                item = planned.item
                reason = exc.reason.value
                readings.append(
                    _missing(meter, item, planned.quantities[0], slot, reason, prepared.tags)
                )
            else:
                raise
            continue
        if not planned.block:
            _take_single(prepared, planned, slot, payload, readings)
            continue
        why = _take_block(prepared, planned, slot, payload, book, readings)
        if why is not None:
            await _fall_back(link, prepared, planned, slot, book, why, reply_timeout, readings)
    return readings


def _take_single(
    prepared: _Prepared,
    planned: _PreparedRead,
    slot: datetime,
    payload: bytes,
    readings: list[Reading],
) -> None:
    meter, item, name = prepared.meter, planned.item, planned.quantities[0]
    try:
        value = item.decode(payload)
    except (ProtocolError, ValueError) as exc:
        reason = f"{FailureReason.MALFORMED.value}: {exc}"
        readings.append(_missing(meter, item, name, slot, reason, prepared.tags))
        return
    if item.is_record:
        assert isinstance(value, Mapping)
        readings.extend(_record_readings(meter, item, name, value, slot, prepared.tags))
        return
    if isinstance(value, float):  # the usual case, without the checks in ``_reading``
        # ``Reading.actual``: a float and the slot's aware datetime need no ``__post_init__``
        readings.append(
            Reading.actual(meter.id, name, value, item.unit, slot, planned.kind, prepared.tags)
        )
    else:
        readings.append(_reading(meter, item, name, value, slot, prepared.tags))


def _take_block(
    prepared: _Prepared,
    planned: _PreparedRead,
    slot: datetime,
    payload: bytes,
    book: BlockSupportBook,
    readings: list[Reading],
) -> str | None:
    """The block's readings; or, for a reply that cannot be used, why (the caller falls back)."""
    meter, item = prepared.meter, planned.item
    if not payload:
        return "an empty reply"
    try:
        decoded = item.decode(payload)
    except (ProtocolError, ValueError) as exc:
        return f"a reply that does not decode ({exc})"
    if book.known(meter.id, planned.label) is None:
        book.learn(meter.id, planned.label, BlockSupport(True))
    assert isinstance(decoded, Mapping)
    tags = prepared.tags
    if item.is_record:
        for name in planned.quantities:
            readings.extend(_record_readings(meter, item, name, decoded, slot, tags))
        return None
    actual, meter_id, unit, kind = Reading.actual, meter.id, item.unit, planned.kind
    for name in planned.quantities:
        value = decoded.get(name, _NOT_SENT)
        if isinstance(value, float):  # the usual case, without the checks in ``_reading``
            readings.append(actual(meter_id, name, value, unit, slot, kind, tags))
        else:
            readings.append(_reading(meter, item, name, decoded, slot, tags))
    return None


async def _read_single(
    link: BusLink,
    prepared: _Prepared,
    planned: _PreparedRead,
    slot: datetime,
    reply_timeout: float,
    readings: list[Reading],
) -> None:
    try:
        payload = await read_payload(
            link,
            prepared.address,
            planned.item.di,
            prepared.standard,
            reply_timeout=reply_timeout,
            request=planned.request,
        )
    except ReadFailed as exc:
        if exc.reason is not FailureReason.ERROR_RESPONSE:
            raise
        item, name = planned.item, planned.quantities[0]
        readings.append(_missing(prepared.meter, item, name, slot, exc.reason.value, prepared.tags))
        return
    _take_single(prepared, planned, slot, payload, readings)


async def _block_failed(
    link: BusLink,
    prepared: _Prepared,
    planned: _PreparedRead,
    slot: datetime,
    book: BlockSupportBook,
    exc: ReadFailed,
    reply_timeout: float,
    readings: list[Reading],
) -> None:
    """A block read that failed: refused (fall back), silent while single items answer
    (fall back), or a meter that does not answer properly (``exc`` again)."""
    meter_id, label = prepared.meter.id, planned.label
    if exc.reason is FailureReason.ERROR_RESPONSE:
        word = "" if exc.error_word is None else f" 0x{exc.error_word:02X}"
        why = f"refused with error word{word}"
        await _fall_back(link, prepared, planned, slot, book, why, reply_timeout, readings)
        return
    if exc.reason is not FailureReason.TIMEOUT or not book.may_probe(meter_id, label):
        raise exc
    why = "no reply to the block while single items answer"
    members = _members(prepared, planned)
    try:  # a silent refusal, or a meter that is not there: its first member tells
        await _read_single(link, prepared, members[0], slot, reply_timeout, readings)
    except ReadFailed:
        raise exc from None
    await _fall_back(link, prepared, planned, slot, book, why, reply_timeout, readings, 1)


async def _fall_back(
    link: BusLink,
    prepared: _Prepared,
    planned: _PreparedRead,
    slot: datetime,
    book: BlockSupportBook,
    why: str,
    reply_timeout: float,
    readings: list[Reading],
    done: int = 0,
) -> None:
    """The block's members one by one (after the first ``done`` of them, already read), and
    the refusal written down so the next slot plans them singly from the start. A meter that
    refuses the single items as well (an error state, a wrong password level) refuses
    everything, which says nothing about blocks: that is not written down."""
    meter = prepared.meter
    first = len(readings) - done
    for member in _members(prepared, planned)[done:]:
        await _read_single(link, prepared, member, slot, reply_timeout, readings)
    refused_all = FailureReason.ERROR_RESPONSE.value
    if all(reading.reason == refused_all for reading in readings[first:]):
        return
    label = planned.label
    if book.known(meter.id, label) is None:
        log.info("meter %s: block %s refused (%s); reading single items", meter.id, label, why)
    book.learn(meter.id, label, BlockSupport(False, why))


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


RECORD_TAG = "record"
"""Tags of a record's time fields: ``record<suffix>`` (``record_time``, ``record_start``)."""


def _record_readings(
    meter: MeterSettings,
    item: DataItem,
    base: str,
    decoded: Mapping[str, Value],
    slot: datetime,
    tags: Mapping[str, str],
) -> list[Reading]:
    """One record (``base``: the item, or one member of a block of records) as readings: one
    per numeric field, each tagged with the record's time fields. A record the meter did not
    send (a block cut short) is a missing reading of each numeric field."""
    kind = ReadingKind(item.kind)
    times: dict[str, str] = {}
    numbers: list[tuple[str, str, Value]] = []
    for part in item.parts:
        name = base + part.suffix
        value = decoded.get(name, _NOT_SENT)
        if part.format.is_numeric and part.format.encoding is not Encoding.ASCII:
            numbers.append((name, part.unit, value))
        elif isinstance(value, datetime | date | time):
            times[RECORD_TAG + part.suffix] = value.isoformat()
    tagged = {**tags, **times} if times else tags
    readings = []
    for name, unit, value in numbers:
        if isinstance(value, int | float) and not isinstance(value, bool):
            readings.append(Reading(meter.id, name, float(value), unit, slot, kind, tags=tagged))
            continue
        reason = str(value) if isinstance(value, NotAvailable) else "not a number"
        readings.append(
            Reading.missing(
                meter.id, name, unit, slot, f"not_available: {reason}", kind=kind, tags=tags
            )
        )
    return readings


def _missing(
    meter: MeterSettings,
    item: DataItem,
    name: str,
    slot: datetime,
    reason: str,
    tags: Mapping[str, str],
) -> Reading:
    return Reading.missing(
        meter.id, name, item.unit, slot, reason, kind=ReadingKind(item.kind), tags=tags
    )
