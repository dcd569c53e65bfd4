"""The JSON of ``/api/area/line-loss``: one figure per transformer and day, with its
completeness, quality, anomaly and suspects (docs/line-loss.md says what each field means)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from pydantic import BaseModel

from storage.area.line_loss import LineLoss, Suspect
from storage.area.supply import BoundaryRead, Supplied

DECIMALS: Final = 4
"""kWh resolution of the answers: the register resolution."""


def _rounded(value: float | None, decimals: int = DECIMALS) -> float | None:
    return None if value is None else round(value, decimals)


class BoundaryOut(BaseModel):
    at: datetime
    meter: str
    value: float | None
    """The register at the boundary, as stored (before CT x PT)."""
    quality: str
    source: str
    detail: str
    before: datetime | None
    after: datetime | None

    @classmethod
    def of(cls, read: BoundaryRead) -> BoundaryOut:
        return cls(
            at=read.at,
            meter=read.meter,
            value=_rounded(read.value),
            quality=read.quality.value,
            source=read.source,
            detail=read.detail,
            before=read.before,
            after=read.after,
        )


class SuppliedOut(BaseModel):
    meter: str | None
    kwh: float | None
    quality: str
    source: str
    detail: str
    start: BoundaryOut | None
    end: BoundaryOut | None

    @classmethod
    def of(cls, supplied: Supplied) -> SuppliedOut:
        return cls(
            meter=supplied.meter,
            kwh=_rounded(supplied.value),
            quality=supplied.quality.value,
            source=supplied.source,
            detail=supplied.detail,
            start=None if supplied.start is None else BoundaryOut.of(supplied.start),
            end=None if supplied.end is None else BoundaryOut.of(supplied.end),
        )


class SuspectOut(BaseModel):
    meter: str
    reason: str
    detail: str
    kwh: float | None
    typical_kwh: float | None
    explains_kwh: float | None

    @classmethod
    def of(cls, suspect: Suspect) -> SuspectOut:
        return cls(
            meter=suspect.meter,
            reason=suspect.reason.value,
            detail=suspect.detail,
            kwh=_rounded(suspect.kwh),
            typical_kwh=_rounded(suspect.typical_kwh),
            explains_kwh=_rounded(suspect.explains_kwh),
        )


class LineLossOut(BaseModel):
    transformer: str
    day: date
    supplied: SuppliedOut
    customers_kwh: float
    loss_kwh: float | None
    loss_percent: float | None
    unit: str = "kWh"
    expected: int
    included: int
    completeness: float
    """included / expected."""
    missing: list[str]
    estimated: list[str]
    quality: str
    """``measured``, ``includes_estimates`` or ``incomplete``."""
    anomaly: str | None
    """``above_threshold``, ``negative`` or null."""
    threshold_percent: float
    suspects: list[SuspectOut]

    @classmethod
    def of(cls, found: LineLoss, threshold_percent: float) -> LineLossOut:
        return cls(
            transformer=found.transformer,
            day=found.day,
            supplied=SuppliedOut.of(found.supplied),
            customers_kwh=round(found.customers_kwh, DECIMALS),
            loss_kwh=_rounded(found.loss_kwh),
            loss_percent=_rounded(found.loss_percent, 3),
            expected=found.expected,
            included=found.included,
            completeness=round(found.completeness, 4),
            missing=list(found.missing),
            estimated=list(found.estimated),
            quality=found.quality.value,
            anomaly=None if found.anomaly is None else found.anomaly.value,
            threshold_percent=threshold_percent,
            suspects=[SuspectOut.of(s) for s in found.suspects],
        )


class LineLossesOut(BaseModel):
    day: date
    line_loss: list[LineLossOut]
