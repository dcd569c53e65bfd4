"""Consumption per meter, day and tariff from consecutive daily frozen registers.

Day D's consumption is the register at D + 1's 00:00 freeze minus the one at D's (register
kWh; ``billed`` multiplies each meter's part by its CT x PT). When an
exchange (换表) falls in between, it is ``old_final - old_start + new_end - new_initial``
(``storage.archive.records.consumption_across``), chained over several exchanges: never the
difference of two meters' registers, which is what made an exchange a huge or negative delta.
A register that went down without an exchange gives no value (quality missing, ``raw`` keeps
the difference) and a ``register_decrease`` finding; every value states its quality and the
rules behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from storage.errors import ArchiveError
from storage.vee.reads import RegisterRead, RegisterTable, ValueQuality, freeze_instant, worst

DECREASE_TOLERANCE: Final = 1e-6
"""kWh a register may appear to go down by (rounding of the stored value) before it counts."""


@dataclass(frozen=True, slots=True)
class Consumption:
    """The energy of one quantity between two freezes, and how it came to be."""

    value: float | None
    quality: ValueQuality
    rules: tuple[str, ...] = ()
    """Estimation rules and ``operator_edit`` behind the reads it used."""
    detail: str = ""
    raw: float | None = None
    """The difference before validation (negative when a register went down)."""
    start: RegisterRead | None = None
    end: RegisterRead | None = None
    exchanges: int = 0
    billed: float | None = None
    """The energy times each meter's CT x PT (``multipliers``): what the customer used."""


@dataclass(frozen=True, slots=True)
class DailyConsumption:
    meter: str
    """The billing point's id as asked for."""
    day: date
    quantity: str
    value: float | None
    quality: ValueQuality
    rules: tuple[str, ...] = ()
    detail: str = ""
    raw: float | None = None
    meters: tuple[str, ...] = ()
    """The physical meters whose registers it is (two when an exchange fell in the day)."""
    billed: float | None = None
    """``value`` times CT x PT, per meter across an exchange."""


def consumption_between(table: RegisterTable, start: date, end: date, quantity: str) -> Consumption:
    """From ``start``'s freeze to ``end``'s, bridging the chain's exchanges in between."""
    first, last = table.get(start, quantity), table.get(end, quantity)
    reads = (first, last)
    rules = tuple(dict.fromkeys(r.rule for r in reads if r.rule))
    quality = worst(r.quality for r in reads)
    if first.value is None or last.value is None:
        missing = [f"{r.day}: {r.detail}" for r in reads if r.value is None]
        return Consumption(
            None, ValueQuality.MISSING, rules, "; ".join(missing), start=first, end=last
        )
    tz = table.tz
    exchanges = table.chain.exchanges_between(freeze_instant(start, tz), freeze_instant(end, tz))
    segments: list[tuple[str, float]] = []
    meter, begin = first.meter, first.value
    try:
        for exchange in exchanges:
            segments.append((meter, exchange.final(quantity) - begin))
            meter, begin = exchange.new_meter, exchange.initial(quantity)
    except ArchiveError as exc:  # the field crew did not read this register
        return Consumption(None, ValueQuality.MISSING, rules, str(exc), start=first, end=last)
    segments.append((meter, last.value - begin))
    total = sum(energy for _, energy in segments)
    detail = f"across {len(exchanges)} exchange(s)" if exchanges else ""
    down = [(m, energy) for m, energy in segments if energy < -DECREASE_TOLERANCE]
    if down:
        meter, energy = down[0]
        return Consumption(
            None,
            ValueQuality.MISSING,
            rules,
            f"register of {meter} decreased by {-energy:.4f} without an exchange",
            raw=energy,
            start=first,
            end=last,
            exchanges=len(exchanges),
        )
    billed = sum(max(e, 0.0) * table.multipliers.get(m, 1.0) for m, e in segments)
    return Consumption(
        max(total, 0.0), quality, rules, detail, total, first, last, len(exchanges), billed
    )


def daily_consumption(
    meter: str, table: RegisterTable, days: Sequence[date], quantities: Sequence[str]
) -> list[DailyConsumption]:
    """One row per day of ``days`` and quantity, in that order; the table needs the reads of
    each day and of the day after."""
    rows: list[DailyConsumption] = []
    for day in days:
        for quantity in quantities:
            found = consumption_between(table, day, day + timedelta(days=1), quantity)
            used = [r.meter for r in (found.start, found.end) if r is not None]
            rows.append(
                DailyConsumption(
                    meter,
                    day,
                    quantity,
                    found.value,
                    found.quality,
                    found.rules,
                    found.detail,
                    found.raw,
                    tuple(dict.fromkeys(used)),
                    found.billed,
                )
            )
    return rows
