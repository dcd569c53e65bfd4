"""What a meter says for a data identifier: source values, clock, status words, frozen days.

Kept apart from request handling so that "which number for which DI" is one table-driven
place: the catalogue names the quantity, the source supplies it, and the meter's own state
(relay, clock, address) overrides only what a real meter would own itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType

from protocols.dlt645 import DataItem, Decoded, Standard, Value, catalogue
from simulators.dlt645.config import MeterKind
from simulators.dlt645.sources import StoredRegisters, ValueSource, tariff_of

_CUT_BY_RELAY = ("current", "power_active", "power_reactive")
_OTHER_PHASES = ("_b", "_c")
_ENERGY = "energy_"
_DEMAND = "demand_"
_EVENT_COUNT = "_count"
RELAY_OPEN_BIT = 4
"""Meter status word 3 (04000503): relay open."""
RELAY_COMMAND_OPEN_BIT = 6
"""Meter status word 3: a trip command is in force."""
MEASURED = (
    "voltage_",
    "current_",
    "power_active",
    "power_reactive",
    "power_factor",
    "energy_",
    "frequency",
)
"""Names only the ``ValueSource`` answers (physics): never stand-ins, missing when it has none.
For every other name the source is asked first (apparent power, temperature, whatever a load
model knows) and the meter's ``StoredRegisters`` answer what it does not."""
DAILY_FROZEN = 0x0506
"""DI3 DI2 of the daily frozen records, which count back from the meter's true date."""


@dataclass(frozen=True, slots=True)
class MeterView:
    """The meter's state at one moment, as the register table needs it."""

    at: datetime
    """Simulated UTC time (what the source is asked for)."""
    clock: datetime
    """The meter's own clock: naive local time, drift and syncs applied."""
    today: date
    """The true local date, which daily frozen records count back from."""
    address: int
    kind: MeterKind
    relay_open: bool
    relay_command_open: bool
    missing_days: frozenset[date]
    stored: StoredRegisters
    energy_cleared_at: datetime | None = None
    energy_at_clear: Mapping[str, float] = field(default_factory=dict)
    """Each energy register as the meter clear found it: what reads subtract from then on (a
    load model answers for now only, so the value at the clear cannot be asked later)."""
    """A meter clear (1A) at this simulated time: energy registers count from zero since."""
    events_cleared_at: datetime | None = None
    """An event clear (1B): event counters count from zero since."""
    demand_cleared: bool = False
    """A demand clear (19): maximum demand reads zero."""
    frozen_records: int = 62
    """Daily freezes the meter keeps; older records are 'no requested data'."""


def payload_for(item: DataItem, di: int, source: ValueSource, view: MeterView) -> bytes | None:
    """The reply payload for ``di`` (an identifier of ``item``); None: 'no requested data'."""
    if item.history and item.di >> 16 == DAILY_FROZEN:
        return _frozen(item, di & 0xFF, source, view)
    value = answer(item, di, source, view)
    return None if value is None else item.encode(value, complete=False)


def answer(item: DataItem, di: int, source: ValueSource, view: MeterView) -> Decoded | None:
    """What the meter holds for ``di`` (not a daily frozen record), decoded: the ground truth
    a test compares a read with. None: the meter has no such data."""
    period = di & 0xFF if item.history else 0
    if not item.is_block:
        one = _one(item, item.name, period, source, view)
        if one is None:
            return None
        return MappingProxyType(one) if item.is_record else one[item.name]
    present: dict[str, Value] = {}
    for member in item.members:
        values = _one(item, member, period, source, view)
        if values is None:
            break  # a shorter block (fewer tariffs or phases) is what real meters send
        present |= values
    return MappingProxyType(present) if present else None


def _one(
    item: DataItem, base: str, period: int, source: ValueSource, view: MeterView
) -> dict[str, Value] | None:
    """One value (one member of a block): its fields by name, or None if the meter lacks it."""
    if view.kind is MeterKind.SINGLE_PHASE and base.endswith(_OTHER_PHASES):
        return None
    tariff = tariff_of(base)
    if tariff is not None and tariff > view.stored.tariffs:
        return None  # the meter has no such tariff, whatever the source knows
    if item.is_record or period or not base.startswith(MEASURED):
        values: dict[str, Value] = {}
        for part in item.parts:
            name = base + part.suffix
            value = _single(name, source, view) if not period else None
            if value is None:
                value = _stored_after_clears(
                    name, view.stored.value(name, period, part.format), view
                )
            if value is None:
                return None
            values[name] = value
        return values
    value = _single(base, source, view)
    return None if value is None else {base: value}


def _single(name: str, source: ValueSource, view: MeterView) -> Value | None:
    match name:
        case "date":
            return view.clock.date()
        case "time":
            return view.clock.time().replace(microsecond=0)
        case "meter_address":
            return view.address
        case "meter_status_3":
            return (view.relay_open << RELAY_OPEN_BIT) | (
                view.relay_command_open << RELAY_COMMAND_OPEN_BIT
            )
        case _ if name.startswith("meter_status_"):
            return 0
    if view.kind is MeterKind.SINGLE_PHASE and name.endswith(_OTHER_PHASES):
        return None
    number = source.value(name, view.at)
    if number is None:
        return None
    if view.relay_open and name.startswith(_CUT_BY_RELAY):
        return 0.0
    if view.demand_cleared and name.startswith(_DEMAND):
        return 0.0
    if name.startswith(_ENERGY):
        if view.energy_cleared_at is None:
            return number
        return max(number - view.energy_at_clear.get(name, 0.0), 0.0)
    if view.events_cleared_at is not None and name.endswith(_EVENT_COUNT):
        return max(number - (source.value(name, view.events_cleared_at) or 0.0), 0.0)
    return number


def energy_registers(source: ValueSource, at: datetime) -> dict[str, float]:
    """Every energy register the source answers at ``at`` (what a meter clear sets to zero)."""
    names = {
        member
        for standard in Standard
        for item in catalogue(standard)
        if not item.history
        for member in (item.members or (item.name,))
        if member.startswith(_ENERGY)
    }
    found = {name: source.value(name, at) for name in names}
    return {name: value for name, value in found.items() if value is not None}


def _stored_after_clears(name: str, value: Value | None, view: MeterView) -> Value | None:
    """A stored register as the clear orders left it: the stand-in values do not grow, so a
    cleared demand or event counter reads zero from the clear on (numbers only: a record's
    time fields keep their value)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    if view.demand_cleared and name.startswith(_DEMAND):
        return type(value)(0)
    if view.events_cleared_at is not None and name.endswith(_EVENT_COUNT):
        return type(value)(0)
    return value


def _frozen(item: DataItem, record: int, source: ValueSource, view: MeterView) -> bytes | None:
    # Record 1 (上1次) is the most recent daily freeze: today's 00:00, once midnight has passed.
    day = view.today - timedelta(days=record - 1)
    if record > view.frozen_records or day in view.missing_days:
        return None
    energy = source.frozen_energy(day)
    if energy is None:
        return None
    if view.energy_cleared_at is not None and _midnight_after_clear(day, view):
        energy = max(energy - view.energy_at_clear.get(_IMPORT_TOTAL, 0.0), 0.0)
    if item.name == FROZEN_IMPORT:
        return item.format.encode(energy)  # total only: the source has no tariff split
    if not item.is_block:
        return item.format.encode(datetime.combine(day, time()))
    stored = _stored_block(item, day, view.stored)
    return item.encode(stored, complete=False) if stored else None


_IMPORT_TOTAL = "energy_active_import_total"


def _midnight_after_clear(day: date, view: MeterView) -> bool:
    """Whether the freeze of ``day`` (its local midnight, on the meter's wall clock) came
    after the meter clear (compared on the same wall clock the meter keeps)."""
    assert view.energy_cleared_at is not None
    cleared_local = view.energy_cleared_at + (view.clock - view.at.replace(tzinfo=None))
    return datetime.combine(day, time()) >= cleared_local.replace(tzinfo=None)


FROZEN_IMPORT = "frozen_energy_active_import"
"""The frozen block the source knows (its total); the other frozen blocks are stored."""


def _stored_block(item: DataItem, day: date, stored: StoredRegisters) -> Mapping[str, Value]:
    """A frozen block the physics has no numbers for, keyed by the day it froze (so a record
    keeps its values while days pass and its number grows)."""
    key = day.toordinal()
    values: dict[str, Value] = {}
    for member in item.members:
        fields = {}
        for part in item.parts:
            value = stored.value(member + part.suffix, key, part.format)
            if value is None:
                return values
            fields[member + part.suffix] = value
        values |= fields
    return values
