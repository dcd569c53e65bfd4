"""What a meter says for a data identifier: source values, clock, status words, frozen days.

Kept apart from request handling so that "which number for which DI" is one table-driven
place: the catalogue names the quantity, the source supplies it, and the meter's own state
(relay, clock, address) overrides only what a real meter would own itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from protocols.dlt645 import DataItem, Value
from simulators.dlt645.config import MeterKind
from simulators.dlt645.sources import ValueSource

_CUT_BY_RELAY = ("current", "power_active", "power_reactive")
_OTHER_PHASES = ("_b", "_c")
_ENERGY = "energy_"
_DEMAND = "demand_"
_EVENT_COUNT = "_count"
RELAY_OPEN_BIT = 4
"""Meter status word 3 (04000503): relay open."""
RELAY_COMMAND_OPEN_BIT = 6
"""Meter status word 3: a trip command is in force."""


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
    energy_cleared_at: datetime | None = None
    """A meter clear (1A) at this simulated time: energy registers count from zero since."""
    events_cleared_at: datetime | None = None
    """An event clear (1B): event counters count from zero since."""
    demand_cleared: bool = False
    """A demand clear (19): maximum demand reads zero."""


def payload_for(item: DataItem, di: int, source: ValueSource, view: MeterView) -> bytes | None:
    """The reply payload for ``di`` (an identifier of ``item``); None: 'no requested data'."""
    if item.history:
        return _frozen(item, di & 0xFF, source, view)
    if not item.is_block:
        value = _single(item.name, source, view)
        return None if value is None else item.format.encode(value)
    present: list[Value] = []
    for name in item.members:
        member = _single(name, source, view)
        if member is None:
            break  # a shorter block (fewer tariffs or phases) is what real meters send
        present.append(member)
    return b"".join(item.format.encode(v) for v in present) or None


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
    since = _cleared_since(name, view)
    if since is not None:
        return max(number - (source.value(name, since) or 0.0), 0.0)
    return number


def _cleared_since(name: str, view: MeterView) -> datetime | None:
    """When the register ``name`` was last set to zero by a clear order, if it was."""
    if name.startswith(_ENERGY):
        return view.energy_cleared_at
    if name.endswith(_EVENT_COUNT):
        return view.events_cleared_at
    return None


def _frozen(item: DataItem, record: int, source: ValueSource, view: MeterView) -> bytes | None:
    # Record 1 (上1次) is the most recent daily freeze: today's 00:00, once midnight has passed.
    day = view.today - timedelta(days=record - 1)
    if day in view.missing_days:
        return None
    energy = source.frozen_energy(day)
    if energy is None:
        return None
    if item.is_block:
        return item.format.encode(energy)  # total only: the source has no tariff split
    return item.format.encode(datetime.combine(day, time()))
