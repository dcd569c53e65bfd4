"""One register map point, and the CT/PT ratios that scale secondary readings to primary.

Meters wired through current and voltage transformers report secondary-side values; the
head-end multiplies by the ratios so that every source reports primary-side quantities.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from protocols.modbus.errors import ModbusProtocolError
from protocols.modbus.registers import Table, ValueType, WordOrder


class RatioUse(enum.StrEnum):
    """Which transformer ratios multiply a point's value."""

    NONE = "none"
    CT = "ct"
    PT = "pt"
    CT_PT = "ct_pt"


@dataclass(frozen=True, slots=True)
class Ratios:
    """Current (CT) and voltage (PT) transformer ratios of one meter installation."""

    ct: float = 1.0
    pt: float = 1.0

    def __post_init__(self) -> None:
        for name, ratio in (("ct", self.ct), ("pt", self.pt)):
            if not (math.isfinite(ratio) and ratio > 0):
                raise ModbusProtocolError(f"{name} ratio must be a positive number, got {ratio!r}")

    def factor(self, use: RatioUse) -> float:
        """The multiplier a point with ratio use ``use`` gets."""
        if use is RatioUse.CT:
            return self.ct
        if use is RatioUse.PT:
            return self.pt
        if use is RatioUse.CT_PT:
            return self.ct * self.pt
        return 1.0


NO_RATIOS = Ratios()
"""A meter connected directly (no CT or PT): the default everywhere."""


@dataclass(frozen=True, slots=True)
class Point:
    """Where one quantity lives in a meter and how to turn its registers into a value.

    ``value = raw * scale * ratios.factor(ratio)``. ``base``/``offset`` record a
    base-relative address (``address = bases[base] + offset``) so the base can be overridden
    per meter when sources disagree (Chint DTSU666 energy block).
    """

    quantity: str
    table: Table
    address: int
    value_type: ValueType
    word_order: WordOrder
    scale: float
    unit: str
    kind: str
    """One of ``protocols.kinds.KINDS``."""
    ratio: RatioUse = RatioUse.NONE
    base: str | None = None
    offset: int = 0

    @property
    def width(self) -> int:
        """Number of registers the point occupies."""
        return self.value_type.width

    @property
    def end(self) -> int:
        """One past the last register of the point."""
        return self.address + self.width
