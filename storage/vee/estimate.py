"""Estimation of missing register reads, always flagged ``estimated`` with the rule's name.

Why registers and not consumption: a register read estimated between two real ones makes the
consumption of the days around it add up to exactly what the meter measured over the gap, so
an estimate moves energy between days but never creates or loses any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Final

from storage.vee.reads import RegisterRead, RegisterTable, ValueQuality

LINEAR: Final = "linear_interpolation"
"""Straight line between the nearest real reads of the same meter before and after the gap."""
ANCHORS: Final = frozenset({ValueQuality.ACTUAL, ValueQuality.EDITED})
"""What an estimate may lean on: never another estimate."""


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
