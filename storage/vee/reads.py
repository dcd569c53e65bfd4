"""The register reads of one billing point, day by day, across meter exchanges (换表).

A billing point (a household's supply) is served by a chain of meters: the first one, then
each meter an exchange put in its place. On each day's 00:00 freeze exactly one of them is in
service, so the register read of that day is that meter's, whichever head-end id it was stored
under: a concentrator's measurement point keeps one id when the meter behind it is replaced,
so after the exchange the rows under the old id are the new meter's register.

An operator's edit of a read wins over what was stored and says so (``ValueQuality.EDITED``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

from storage.archive.edits import RegisterEdit
from storage.archive.records import MeterExchange
from storage.billing import DailyValue, DayState
from storage.errors import ArchiveError
from storage.records import Quality

OPERATOR_EDIT: Final = "operator_edit"
"""The rule name of a value an operator entered."""


class ValueQuality(enum.StrEnum):
    """How a VEE value came to be, worst last: what billing must look at before using it."""

    ACTUAL = "actual"
    """From the meter (read on time or re-read later from its freeze)."""
    EDITED = "edited"
    """Entered by an operator, with a reason and an audit entry."""
    ESTIMATED = "estimated"
    """Computed by a named rule; billed only when the billing system accepts estimates."""
    MISSING = "missing"
    """No value, and no rule could make one."""


QUALITY_RANK: Final = {quality: rank for rank, quality in enumerate(ValueQuality)}


def worst(qualities: Iterable[ValueQuality]) -> ValueQuality:
    """The worst of ``qualities`` (actual when there are none)."""
    return max(qualities, key=QUALITY_RANK.__getitem__, default=ValueQuality.ACTUAL)


@dataclass(frozen=True, slots=True)
class RegisterRead:
    """The register of the meter in service at ``day``'s 00:00 freeze."""

    meter: str
    """The physical meter (archive id) the register is of."""
    day: date
    quantity: str
    value: float | None
    quality: ValueQuality
    rule: str = ""
    """The estimation rule, or ``operator_edit``; empty for meter values."""
    detail: str = ""
    """Why it is missing, or the operator's reason."""


@dataclass(frozen=True, slots=True)
class MeterChain:
    """The meters of one billing point in service order, and the exchanges between them."""

    meters: tuple[str, ...]
    exchanges: tuple[MeterExchange, ...] = ()

    def __post_init__(self) -> None:
        if len(self.exchanges) != len(self.meters) - 1:
            raise ArchiveError(
                f"meter chain {self.meters}: {len(self.exchanges)} exchanges for"
                f" {len(self.meters)} meters"
            )
        for index, exchange in enumerate(self.exchanges):
            pair = (self.meters[index], self.meters[index + 1])
            if (exchange.old_meter, exchange.new_meter) != pair:
                raise ArchiveError(f"meter chain {self.meters}: exchange {index} is not {pair}")
            if exchange.at.tzinfo is None:
                raise ArchiveError(f"exchange of {exchange.old_meter}: 'at' has no UTC offset")

    @classmethod
    def single(cls, meter: str) -> MeterChain:
        return cls((meter,))

    @classmethod
    def of(cls, meter: str, exchanges: Iterable[MeterExchange]) -> MeterChain:
        """The chain through ``meter``: its predecessors and successors by ``exchanges``."""
        by_old = {exchange.old_meter: exchange for exchange in exchanges}
        by_new = {exchange.new_meter: exchange for exchange in by_old.values()}
        first, seen = meter, {meter}
        while first in by_new:
            first = by_new[first].old_meter
            if first in seen:
                raise ArchiveError(f"exchanges of meter {meter} form a loop")
            seen.add(first)
        meters, steps = [first], []
        while meters[-1] in by_old:
            step = by_old[meters[-1]]
            if step.new_meter in meters:
                raise ArchiveError(f"exchanges of meter {meter} form a loop")
            steps.append(step)
            meters.append(step.new_meter)
        return cls(tuple(meters), tuple(steps))

    def in_service(self, instant: datetime) -> str:
        """The meter in service at ``instant`` (an exchange at that very instant counts)."""
        current = self.meters[0]
        for exchange in self.exchanges:
            if exchange.at <= instant:
                current = exchange.new_meter
        return current

    def exchanges_between(self, start: datetime, end: datetime) -> list[MeterExchange]:
        """The exchanges with ``start < at <= end``, oldest first."""
        return [e for e in self.exchanges if start < e.at <= end]


def freeze_instant(day: date, tz: tzinfo) -> datetime:
    """When ``day``'s daily freeze is taken: local 00:00."""
    return datetime.combine(day, time(), tzinfo=tz)


@dataclass(slots=True)
class RegisterTable:
    """Register reads by (day, quantity) for one chain: stored rows, then edits, then gaps."""

    chain: MeterChain
    tz: tzinfo
    reads: dict[tuple[date, str], RegisterRead] = field(default_factory=dict)
    multipliers: Mapping[str, float] = field(default_factory=dict)
    """CT x PT by meter (the archive's); 1 for a meter not given."""

    def get(self, day: date, quantity: str) -> RegisterRead:
        read = self.reads.get((day, quantity))
        if read is None:
            meter = self.chain.in_service(freeze_instant(day, self.tz))
            return RegisterRead(meter, day, quantity, None, ValueQuality.MISSING, detail="not read")
        return read


def register_reads(
    chain: MeterChain,
    rows: Iterable[DailyValue],
    edits: Iterable[RegisterEdit],
    days: Sequence[date],
    quantities: Sequence[str],
    tz: tzinfo,
    multipliers: Mapping[str, float] | None = None,
) -> RegisterTable:
    """Every (day, quantity) of ``days`` as a read of the meter in service at its freeze.

    ``rows`` may hold any of the chain's ids (others are ignored); the in-service meter's own
    row is preferred, then a row stored under another id of the chain. The latest edit of the
    in-service meter (or of the id it was stored under) wins over both.
    """
    members = set(chain.meters)
    stored: dict[tuple[str, date, str], DailyValue] = {}
    for row in rows:
        if row.meter in members:
            stored[(row.meter, row.day, row.quantity)] = row
    edited: dict[tuple[str, date, str], RegisterEdit] = {}
    for edit in sorted(edits, key=lambda e: e.at):
        if edit.meter in members:
            edited[(edit.meter, edit.day, edit.quantity)] = edit
    table = RegisterTable(chain, tz, multipliers=dict(multipliers or {}))
    for day in days:
        meter = chain.in_service(freeze_instant(day, tz))
        order = [meter, *(m for m in chain.meters if m != meter)]
        for quantity in quantities:
            table.reads[(day, quantity)] = _read_of(meter, order, day, quantity, stored, edited)
    return table


def _read_of(
    meter: str,
    order: Sequence[str],
    day: date,
    quantity: str,
    stored: Mapping[tuple[str, date, str], DailyValue],
    edited: Mapping[tuple[str, date, str], RegisterEdit],
) -> RegisterRead:
    for candidate in order:
        edit = edited.get((candidate, day, quantity))
        if edit is not None:
            return RegisterRead(
                meter,
                day,
                quantity,
                edit.value,
                ValueQuality.EDITED,
                OPERATOR_EDIT,
                f"{edit.user}: {edit.reason}",
            )
    reason = "not collected"
    for candidate in order:
        row = stored.get((candidate, day, quantity))
        if row is None:
            continue
        if row.state is DayState.COLLECTED and row.value is not None:
            # Read on time or re-read from the meter's freeze (backfilled): both the meter's.
            quality = (
                ValueQuality.ESTIMATED if row.quality is Quality.ESTIMATED else ValueQuality.ACTUAL
            )
            rule = "stored_estimate" if quality is ValueQuality.ESTIMATED else ""
            return RegisterRead(meter, day, quantity, row.value, quality, rule)
        if row.reason:
            reason = f"not collected: {row.reason}"
    return RegisterRead(meter, day, quantity, None, ValueQuality.MISSING, detail=reason)


def days_from(start: date, end: date) -> list[date]:
    """``start`` to ``end``, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
