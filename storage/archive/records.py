"""What the meter archive (档案) holds: one frozen record per meter, and meter exchanges (换表).

This is the shape other code reads (billing, VEE, line loss, KPIs): keep it stable. Fields
are added at the end with defaults, never renamed. The archive is the customer and grid
dimension of a meter (account, transformer, building, kind); the fleet file keeps how it is
read (channels, plans, policy).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from storage.errors import ArchiveError

TOTAL_IMPORT: Final = "energy_active_import_total"
"""The register an exchange's reads are of unless a quantity is named."""


class MeterRole(enum.StrEnum):
    """What a meter measures, for billing and for the transformer area's balance."""

    HOUSEHOLD = "household"
    EV_PILE = "ev_pile"
    """An electric vehicle charging pile (充电桩)."""
    PUBLIC = "public"
    """Stairwell lights, lifts, pumps: the community's own use."""
    TRANSFORMER_LV = "transformer_lv"
    """The transformer's own LV-side meter: the energy supplied to the area, not a customer."""


@dataclass(frozen=True, slots=True)
class ArchiveMeter:
    """One meter of the archive. ``channel`` or ``terminal`` says how it is reached."""

    id: str
    address: str
    protocol: str = "dlt645-2007"
    channel: str | None = None
    terminal: str | None = None
    pn: int | None = None
    """Measurement point number on its terminal (Q/GDW 1376.1), with ``terminal``."""
    plan: str | None = None
    """Read plan; None: the fleet's ``[archive] plan``."""
    account: str | None = None
    """Account number (户号) billing knows the customer by."""
    asset: str | None = None
    """Asset number (资产编号) on the meter's label."""
    customer: str | None = None
    kind: MeterRole = MeterRole.HOUSEHOLD
    tariff_scheme: str | None = None
    ct_ratio: float = 1.0
    pt_ratio: float = 1.0
    transformer: str | None = None
    building: str | None = None
    household: str | None = None
    phase: str | None = None
    installed: date | None = None
    removed: date | None = None
    """Set once the meter left the field (an exchange sets it on the old meter)."""

    @property
    def multiplier(self) -> float:
        """CT x PT: what the register's secondary energy is multiplied by for billing."""
        return self.ct_ratio * self.pt_ratio

    def in_service(self, day: date) -> bool:
        """Whether the meter was installed on ``day`` (install and remove days included)."""
        if self.installed is not None and day < self.installed:
            return False
        return self.removed is None or day <= self.removed


@dataclass(frozen=True, slots=True)
class MeterExchange:
    """A meter exchange (换表): ``old_meter`` read ``old_final`` when it came out at ``at``,
    ``new_meter`` read ``new_initial`` when it went in. Reads are per register; the total
    import is always there, per-tariff registers when the field crew read them."""

    old_meter: str
    new_meter: str
    at: datetime
    """When the exchange happened (UTC, aware)."""
    old_final: Mapping[str, float]
    new_initial: Mapping[str, float]
    reason: str = ""
    recorded_at: datetime | None = None

    def final(self, quantity: str = TOTAL_IMPORT) -> float:
        return _read(self.old_final, quantity, self.old_meter, "final")

    def initial(self, quantity: str = TOTAL_IMPORT) -> float:
        return _read(self.new_initial, quantity, self.new_meter, "initial")


def _read(reads: Mapping[str, float], quantity: str, meter: str, which: str) -> float:
    try:
        return reads[quantity]
    except KeyError:
        raise ArchiveError(f"exchange of meter {meter}: no {which} read of {quantity}") from None


def consumption_across(
    exchange: MeterExchange, old_start: float, new_end: float, quantity: str = TOTAL_IMPORT
) -> float:
    """Consumption over a period the exchange falls in:
    ``old_final - old_start + new_end - new_initial`` (register units, before CT x PT).

    ``old_start`` is the old meter's register at the period's start, ``new_end`` the new
    meter's at its end. Never the difference of the two meters' registers, which is what made
    an exchange a huge or negative delta.
    """
    return exchange.final(quantity) - old_start + new_end - exchange.initial(quantity)
