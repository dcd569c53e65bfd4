"""The energy supplied at a transformer in one local day: its LV-side meter's register at the
day's two 00:00 boundaries, the later minus the earlier, times CT x PT.

Why not only frozen values: an LV-side Modbus meter (DTSU666 behind CTs) keeps no daily
freeze the head-end can read, only its live register, read every few minutes. The register at
the boundary is then the straight line between the last read before it and the first read
after it. Within ``MEASURED_REACH`` of the boundary on both sides that is a measured value (the
load cannot bend much in minutes: the error is the curvature of a quarter hour's energy); up to
``ESTIMATE_REACH`` it is flagged estimated; further away there is no value. A stored daily
freeze of the meter (or an operator's edit of it) wins over interval reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from storage.consumption import DECREASE_TOLERANCE
from storage.errors import ArchiveError
from storage.vee.reads import MeterChain, RegisterRead, ValueQuality, worst

MEASURED_REACH: Final = timedelta(minutes=15)
"""Interval reads this close to the boundary on both sides make a measured boundary value."""
ESTIMATE_REACH: Final = timedelta(hours=2)
"""Up to this far they make an estimated one (the VEE profile rule's reach)."""
DAILY_FREEZE: Final = "daily_freeze"
INTERVAL_READS: Final = "interval_reads"
NO_SOURCE: Final = "none"


@dataclass(frozen=True, slots=True)
class BoundaryRead:
    """The supply meter's register (as stored, before CT x PT) at one day boundary."""

    at: datetime
    meter: str
    """The physical meter in service at ``at``."""
    value: float | None
    quality: ValueQuality
    source: str
    detail: str = ""
    before: datetime | None = None
    """The interval read it leans on before the boundary (``interval_reads`` only)."""
    after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Supplied:
    """What the transformer supplied in the day (kWh, CT x PT applied), and how it is known."""

    meter: str | None
    """The supply meter (the billing point's id); None when the transformer has none."""
    value: float | None
    quality: ValueQuality
    source: str
    start: BoundaryRead | None = None
    end: BoundaryRead | None = None
    detail: str = ""
    register: float | None = None
    """The register difference before CT x PT (bridged across an exchange)."""


NO_SUPPLY_METER: Final = Supplied(
    None, None, ValueQuality.MISSING, NO_SOURCE, detail="no transformer_lv meter for it"
)


def register_at(
    chain: MeterChain,
    instant: datetime,
    reads: Iterable[tuple[str, datetime, float]],
    measured_reach: timedelta = MEASURED_REACH,
    estimate_reach: timedelta = ESTIMATE_REACH,
) -> BoundaryRead:
    """The register of the meter in service at ``instant`` from interval ``reads`` (stored id,
    time, value), linear between the nearest before and after; a read of another meter of
    the chain (before or after an exchange) is never leaned on."""
    meter = chain.in_service(instant)
    own = [
        (at, value)
        for stored, at, value in reads
        if stored in chain.meters and chain.in_service(at) == meter
    ]
    before = [p for p in own if instant - estimate_reach <= p[0] <= instant]
    after = [p for p in own if instant <= p[0] <= instant + estimate_reach]
    if not before or not after:
        side = "before" if not before else "after"
        return BoundaryRead(
            instant,
            meter,
            None,
            ValueQuality.MISSING,
            NO_SOURCE,
            f"no register read of {meter} within {_span(estimate_reach)} {side} {instant}",
        )
    (t0, v0), (t1, v1) = max(before), min(after)
    value = v0 if t1 == t0 else v0 + (v1 - v0) * ((instant - t0) / (t1 - t0))
    close = instant - t0 <= measured_reach and t1 - instant <= measured_reach
    quality = ValueQuality.ACTUAL if close else ValueQuality.ESTIMATED
    detail = f"between reads at {t0.isoformat()} and {t1.isoformat()}"
    if t0 == t1:
        detail = f"read at {t0.isoformat()}"
    return BoundaryRead(instant, meter, value, quality, INTERVAL_READS, detail, t0, t1)


def supplied_between(
    point: str,
    chain: MeterChain,
    start: BoundaryRead,
    end: BoundaryRead,
    multipliers: Mapping[str, float],
) -> Supplied:
    """The energy from ``start`` to ``end``: bridged across the chain's exchanges in the day
    (``old_final - old_start + new_end - new_initial``), each meter's part times its CT x PT."""
    quality = worst([start.quality, end.quality])
    if start.value is None or end.value is None:
        missing = "; ".join(r.detail for r in (start, end) if r.value is None)
        return Supplied(point, None, ValueQuality.MISSING, start.source, start, end, missing)
    segments: list[tuple[str, float]] = []
    meter, begin = start.meter, start.value
    try:
        for exchange in chain.exchanges_between(start.at, end.at):
            segments.append((meter, exchange.final() - begin))
            meter, begin = exchange.new_meter, exchange.initial()
    except ArchiveError as exc:
        return Supplied(point, None, ValueQuality.MISSING, start.source, start, end, str(exc))
    segments.append((meter, end.value - begin))
    down = [(m, e) for m, e in segments if e < -DECREASE_TOLERANCE]
    if down:
        meter, energy = down[0]
        detail = f"register of {meter} decreased by {-energy:.4f} without an exchange"
        return Supplied(point, None, ValueQuality.MISSING, start.source, start, end, detail)
    register = sum(e for _, e in segments)
    value = sum(max(e, 0.0) * multipliers.get(m, 1.0) for m, e in segments)
    detail = f"across {len(segments) - 1} exchange(s)" if len(segments) > 1 else ""
    source = start.source if start.source == end.source else f"{start.source}+{end.source}"
    return Supplied(point, value, quality, source, start, end, detail, register)


def boundary_of_freeze(read: RegisterRead, at: datetime) -> BoundaryRead:
    """A stored daily freeze (or an operator's edit of it) as the register at ``at``."""
    return BoundaryRead(at, read.meter, read.value, read.quality, DAILY_FREEZE, read.detail)


def _span(reach: timedelta) -> str:
    minutes = int(reach.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
