"""A meter exchange (换表) as a field crew reports it: register reads by short name, and the new
meter's archive row when the archive does not list it yet.

Why here, below both the CLI and the API: ``headend archive exchange`` and
``POST /api/archive/exchanges`` take the same work order, and must refuse the same reads
(negative, not finite, no total) and give the new meter the same row (the old one's account,
place and terminal point), or an exchange recorded one way would bill differently from one
recorded the other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from storage.archive.records import TOTAL_IMPORT, ArchiveMeter
from storage.errors import ArchiveError

IMPORT_PREFIX: Final = "energy_active_import_"
_SHORT_TARIFF: Final = re.compile(r"^t[1-9][0-9]?$")
_REGISTER: Final = re.compile(r"^energy_[a-z0-9_]+$")


def register_name(text: str) -> str:
    """``total`` / ``t2`` / a full register name -> the register's name."""
    if text == "total":
        return TOTAL_IMPORT
    if _SHORT_TARIFF.match(text):
        return IMPORT_PREFIX + text
    return text


def checked_reads(reads: Mapping[str, float], which: str) -> dict[str, float]:
    """The reads by full register name; ``ArchiveError`` naming ``which`` (``old_final``) and
    the register for a read that is no register, not a finite number >= 0, given twice, or
    when the total import is missing (consumption across the exchange needs it)."""
    checked: dict[str, float] = {}
    for name, value in reads.items():
        quantity = register_name(name)
        if _REGISTER.match(quantity) is None:
            raise ArchiveError(f"{which} {name}: not an energy register (total, t1.., energy_...)")
        if isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise ArchiveError(f"{which} {name}: a read is a number of kWh >= 0, got {value!r}")
        if quantity in checked:
            raise ArchiveError(f"{which}: {quantity} given twice")
        checked[quantity] = float(value)
    if TOTAL_IMPORT not in checked:
        raise ArchiveError(f"{which}: the total import read is required")
    return checked


def new_meter_row(old: ArchiveMeter | None, new_id: str, address: str) -> ArchiveMeter:
    """The row of a new meter the archive does not list: the same customer and place as the
    meter it replaces (account, transformer, building, terminal point), its own address and no
    asset number (the label of the old meter is not the new one's)."""
    if not (address.isdigit() and len(address) <= 12):
        raise ArchiveError(f"new meter {new_id}: address {address!r} is not up to 12 digits")
    if old is None:
        return ArchiveMeter(new_id, address)
    return replace(old, id=new_id, address=address, asset=None)
