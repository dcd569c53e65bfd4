"""Point values to and from registers: the head-end decodes, the simulator encodes.

A NaN or infinite float is how meters say "not available" (e.g. a phase that does not exist in
a three-phase three-wire connection); it becomes a result with a reason, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from headend.readings import FailureReason, Reading, ReadingKind
from protocols.modbus.points import NO_RATIOS, Point, Ratios
from protocols.modbus.registers import pack_raw, unpack_raw

_NO_TAGS: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class PointResult:
    """The outcome for one quantity: a value, or ``None`` with the reason it is missing."""

    quantity: str
    value: float | None
    unit: str
    kind: ReadingKind
    reason: FailureReason | None = None

    @property
    def ok(self) -> bool:
        """True when the point has a value."""
        return self.value is not None

    def to_reading(
        self, meter: str, timestamp: datetime, tags: Mapping[str, str] = _NO_TAGS
    ) -> Reading:
        """The shared reading record; a missing result becomes a MISSING reading."""
        if self.value is None:
            reason = self.reason or FailureReason.NOT_AVAILABLE
            return Reading.missing(
                meter, self.quantity, self.unit, timestamp, str(reason), kind=self.kind, tags=tags
            )
        return Reading(
            meter=meter,
            quantity=self.quantity,
            value=self.value,
            unit=self.unit,
            timestamp=timestamp,
            kind=self.kind,
            tags=tags,
        )


def missing_result(point: Point, reason: FailureReason) -> PointResult:
    """A result without a value, e.g. because the request carrying the point failed."""
    return PointResult(point.quantity, None, point.unit, point.kind, reason)


def decode_point(point: Point, registers: Sequence[int], ratios: Ratios = NO_RATIOS) -> PointResult:
    """Decode the registers of one point (exactly ``point.width`` of them)."""
    raw = unpack_raw(registers, point.value_type, point.word_order)
    if not math.isfinite(raw):
        return missing_result(point, FailureReason.NOT_AVAILABLE)
    value = raw * point.scale * ratios.factor(point.ratio)
    return PointResult(point.quantity, value, point.unit, point.kind)


def encode_point(point: Point, value: float, ratios: Ratios = NO_RATIOS) -> list[int]:
    """The registers a meter would hold for ``value`` (primary side); NaN means not available."""
    if math.isnan(value):
        return pack_raw(math.nan, point.value_type, point.word_order)
    raw = value / (point.scale * ratios.factor(point.ratio))
    return pack_raw(raw, point.value_type, point.word_order)
