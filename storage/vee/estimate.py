"""Estimation of missing register reads, always flagged ``estimated`` with the rule's name.

Why registers and not consumption: a register read estimated between two real ones makes the
consumption of the days around it add up to exactly what the meter measured over the gap, so
an estimate moves energy between days but never creates or loses any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Final

from storage.billing import StoredPoint
from storage.records import Quality
from storage.vee.reads import RegisterRead, RegisterTable, ValueQuality, freeze_instant

LINEAR: Final = "linear_interpolation"
"""Straight line between the nearest real reads of the same meter before and after the gap."""
ANCHORS: Final = frozenset({ValueQuality.ACTUAL, ValueQuality.EDITED})
"""What an estimate may lean on: never another estimate."""
PROFILE: Final = "load_profile"
"""The meter's own interval register reads (its load profile) on both sides of the freeze."""
PROFILE_REACH: Final = timedelta(hours=2)
"""How far from the freeze instant a profile read may be to lean on."""
_PROFILE_QUALITIES: Final = frozenset({Quality.ACTUAL, Quality.BACKFILLED})


def missing_reads(table: RegisterTable) -> list[RegisterRead]:
    """The reads no value was found for: what a caller fetches profile reads around."""
    return [read for read in table.reads.values() if read.quality is ValueQuality.MISSING]


def estimate_from_profile(
    table: RegisterTable, points: Iterable[StoredPoint], reach: timedelta = PROFILE_REACH
) -> list[RegisterRead]:
    """Fill missing freezes from interval register reads of the same meter within ``reach``
    before and after the freeze instant, linear in time between the two nearest (the read
    itself when one is at the instant); returns the reads it estimated.

    Tried before ``estimate_linear``: a register read minutes from midnight puts the energy
    on the right day, where a straight line over days spreads it evenly.
    """
    chain, tz = table.chain, table.tz
    by_meter: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for point in points:
        if point.value is None or point.quality not in _PROFILE_QUALITIES:
            continue
        if point.meter not in chain.meters:
            continue
        meter = chain.in_service(point.timestamp)  # whose register it was, by its time
        by_meter.setdefault((meter, point.quantity), []).append((point.timestamp, point.value))
    estimated = []
    for read in missing_reads(table):
        profile = by_meter.get((read.meter, read.quantity))
        if not profile:
            continue
        instant = freeze_instant(read.day, tz)
        before = [p for p in profile if instant - reach <= p[0] <= instant]
        after = [p for p in profile if instant <= p[0] <= instant + reach]
        if not before or not after:
            continue
        (t0, v0), (t1, v1) = max(before), min(after)
        value = v0 if t1 == t0 else v0 + (v1 - v0) * ((instant - t0) / (t1 - t0))
        filled = replace(
            read,
            value=value,
            quality=ValueQuality.ESTIMATED,
            rule=PROFILE,
            detail=f"between interval reads at {t0.isoformat()} and {t1.isoformat()}",
        )
        table.reads[(read.day, read.quantity)] = filled
        estimated.append(filled)
    return estimated


def estimate_linear(
    table: RegisterTable, days: Sequence[date], quantities: Sequence[str]
) -> list[RegisterRead]:
    """Fill every missing read of ``days`` that has a real read of the same meter on both
    sides within ``days``; returns the reads it estimated (the table is updated in place).

    A gap at either end of ``days``, or one an exchange cuts (the meters differ), stays
    missing: extrapolating a register would bill energy nobody measured.
    """
    ordered = sorted(days)
    estimated: list[RegisterRead] = []
    for quantity in quantities:
        reads = [table.get(day, quantity) for day in ordered]
        for index, read in enumerate(reads):
            if read.quality is not ValueQuality.MISSING:
                continue
            before = _anchor(reads, index, -1, read.meter)
            after = _anchor(reads, index, 1, read.meter)
            if before is None or after is None:
                continue
            assert before.value is not None
            assert after.value is not None
            span = (after.day - before.day).days
            share = (read.day - before.day).days / span
            value = before.value + (after.value - before.value) * share
            filled = replace(
                read,
                value=value,
                quality=ValueQuality.ESTIMATED,
                rule=LINEAR,
                detail=f"between {before.day} and {after.day} ({read.detail})",
            )
            table.reads[(read.day, quantity)] = filled
            estimated.append(filled)
    return estimated


def _anchor(
    reads: Sequence[RegisterRead], index: int, step: int, meter: str
) -> RegisterRead | None:
    position = index + step
    while 0 <= position < len(reads):
        read = reads[position]
        if read.meter != meter:
            return None
        if read.quality in ANCHORS:
            return read
        position += step
    return None
