"""Unit and kind of a quantity as a given meter reports it, for readings the meter never sent.

A missing reading must land in the same series as the values (storage keys a series by
measurement = kind, and by unit), so its unit and kind come from the same catalogue or
register map the reader uses (the meter's driver), not from a guess, and in the canonical unit
of ``headend.units`` that every stored value of the quantity carries.
"""

from __future__ import annotations

from headend.drivers.registry import driver_for
from headend.drivers.settings import MeterSettings
from headend.units import canonical_unit
from storage.records import ReadingKind


def unit_and_kind(meter: MeterSettings, quantity: str) -> tuple[str, ReadingKind]:
    unit, kind = driver_for(meter.protocol).unit_and_kind(meter, quantity) or (
        "",
        ReadingKind.INSTANT,
    )
    return canonical_unit(quantity) or unit, kind
