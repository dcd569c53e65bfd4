"""Point values to and from registers: the head-end decodes, the simulator encodes.

A NaN or infinite float is how meters say "not available" (e.g. a phase that does not exist in
a three-phase three-wire connection); it becomes a result with a reason, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.modbus.points import NO_RATIOS, Point, Ratios
from protocols.modbus.registers import pack_raw, unpack_raw

NOT_AVAILABLE = "not_available"
"""The reason of a point the meter reports as not available (NaN or infinite); it is the value
of ``storage.records.FailureReason.NOT_AVAILABLE``, which the head-end turns it into."""


@dataclass(frozen=True, slots=True)
class PointResult:
    """The outcome for one quantity: a value, or ``None`` with the reason it is missing.

    A value, not a reading: the head-end's Modbus reader adds meter, time and tags.
    """

    quantity: str
    value: float | None
    unit: str
    kind: str
    """One of ``protocols.kinds.KINDS``."""
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the point has a value."""
        return self.value is not None


def missing_result(point: Point, reason: str) -> PointResult:
    """A result without a value, e.g. because the request carrying the point failed."""
    return PointResult(point.quantity, None, point.unit, point.kind, reason)


def decode_point(point: Point, registers: Sequence[int], ratios: Ratios = NO_RATIOS) -> PointResult:
    """Decode the registers of one point (exactly ``point.width`` of them)."""
    raw = unpack_raw(registers, point.value_type, point.word_order)
    if not math.isfinite(raw):
        return missing_result(point, NOT_AVAILABLE)
    value = raw * point.scale * ratios.factor(point.ratio)
    return PointResult(point.quantity, value, point.unit, point.kind)


def encode_point(point: Point, value: float, ratios: Ratios = NO_RATIOS) -> list[int]:
    """The registers a meter would hold for ``value`` (primary side); NaN means not available."""
    if math.isnan(value):
        return pack_raw(math.nan, point.value_type, point.word_order)
    raw = value / (point.scale * ratios.factor(point.ratio))
    return pack_raw(raw, point.value_type, point.word_order)
