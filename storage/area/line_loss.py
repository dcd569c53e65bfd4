"""Line loss (线损) of one transformer in one local day, sans-IO:
``(supplied - customers) / supplied``, with what the figure can be trusted for.

A transformer area's loss is small (a few per cent of technical loss in the cables), so a
figure far above the site's threshold or below zero is almost never the grid: it is a meter.
Hence the figure carries its completeness (customers included out of those expected: a missing
meter makes the loss look higher by its whole consumption), its quality (measured, includes
estimates, incomplete) and, when it is anomalous, the customer meters ranked by how likely
they are behind it: a register that went down, a stopped register on an occupied household,
a missing meter, a day far below the meter's own history; for a negative loss, a day far above
it, estimates, and the supply meter itself. numpy computes each meter's typical day (the median
of its recent days) for the whole area in one call.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np

from storage.archive.records import MeterRole
from storage.area.supply import Supplied
from storage.consumption import DECREASE_TOLERANCE, DailyConsumption
from storage.vee.reads import ValueQuality

ZERO_KWH: Final = 1e-9


@dataclass(frozen=True, slots=True)
class LineLossLimits:
    """The site's thresholds (fleet file ``[line_loss]``, docs/line-loss.md)."""

    threshold_percent: float = 10.0
    """A loss rate above this is an anomaly. 10 %: State Grid's usual ceiling for a residential
    area (typical technical loss is 3-7 %); above it something is not being metered."""
    negative_tolerance_percent: float = 0.5
    """A rate below minus this is an anomaly. Not zero: the supply meter and the customers'
    meters each err within their accuracy class, and a boundary read between interval reads
    carries a little interpolation, so a loss-free area scatters around 0."""
    drop_share: float = 0.3
    """A customer's day below this share of its typical day is a drop against its history..."""
    spike_factor: float = 3.0
    """...and above this many times it, a spike (a suspect of a negative loss)."""
    floor_kwh: float = 0.5
    """Typical days below this are too small to judge drops and stops by (an empty flat)."""
    history_min_days: int = 3
    """Days of its own history a meter needs before it is judged against it."""


DEFAULT_LIMITS: Final = LineLossLimits()


class FigureQuality(enum.StrEnum):
    MEASURED = "measured"
    """Every expected meter and the supply are meter values (read or re-read)."""
    INCLUDES_ESTIMATES = "includes_estimates"
    """Complete, but some value is an estimate or an operator's edit."""
    INCOMPLETE = "incomplete"
    """The supply or some expected customer meter has no value for the day."""


class Anomaly(enum.StrEnum):
    ABOVE_THRESHOLD = "above_threshold"
    NEGATIVE = "negative"


class SuspectReason(enum.StrEnum):
    """Why a meter may be behind an anomalous loss, strongest evidence first."""

    REGISTER_DECREASE = "register_decrease"
    """Its register went down without an exchange (reversed wiring, a tampered register)."""
    STOPPED = "stopped_register"
    """Zero consumption on an occupied household that usually uses energy."""
    MISSING = "missing"
    """No value for the day: its whole consumption is counted as loss."""
    DROP = "drop_against_history"
    """Far below its own typical day (a bypass, a failing register)."""
    SPIKE = "spike_against_history"
    """Far above its own typical day (a negative loss: a wrong read or a wrong exchange)."""
    ESTIMATED = "estimated"
    """An estimate or an edit, which may be off."""
    SUPPLY_METER = "supply_meter"
    """The supply meter reads less than its customers: its CT x PT or wiring."""


_RANK: Final = {reason: rank for rank, reason in enumerate(SuspectReason)}


@dataclass(frozen=True, slots=True)
class CustomerDay:
    """One expected customer billing point: its day and its recent days (oldest first)."""

    point: str
    kind: MeterRole
    day: DailyConsumption
    """The day's total import, ``billed`` (CT x PT applied) being what is weighed."""
    history: Sequence[float | None] = ()
    """Its billed kWh on the days before (None where it has none)."""


@dataclass(frozen=True, slots=True)
class Suspect:
    meter: str
    reason: SuspectReason
    detail: str
    kwh: float | None
    """Its billed kWh of the day (None when missing)."""
    typical_kwh: float | None
    """The median of its recent days."""
    explains_kwh: float | None
    """How much of the loss it could account for (typical - day; the day - typical for a
    spike); None when that cannot be told."""


@dataclass(frozen=True, slots=True)
class LineLoss:
    transformer: str
    day: date
    supplied: Supplied
    customers_kwh: float
    """The billed kWh of the customers included."""
    loss_kwh: float | None
    loss_percent: float | None
    """``loss / supplied x 100``; None without a supply or with a zero one."""
    expected: int
    included: int
    missing: tuple[str, ...]
    estimated: tuple[str, ...]
    """Customers whose value is an estimate or an edit."""
    quality: FigureQuality
    anomaly: Anomaly | None
    suspects: tuple[Suspect, ...]

    @property
    def completeness(self) -> float:
        """included / expected (1 when nothing is expected)."""
        return self.included / self.expected if self.expected else 1.0


def typical_days(customers: Sequence[CustomerDay], min_days: int) -> list[float | None]:
    """Each customer's median day over its history, None with fewer than ``min_days``."""
    width = max((len(c.history) for c in customers), default=0)
    matrix = np.full((len(customers), width), np.nan)
    for i, customer in enumerate(customers):
        for j, value in enumerate(customer.history):
            if value is not None:
                matrix[i, j] = value
    counted = np.sum(~np.isnan(matrix), axis=1)
    with warnings.catch_warnings():  # a meter without history has no median: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(matrix, axis=1) if width else np.full(len(customers), np.nan)
    return [
        float(m) if n >= min_days and not math.isnan(m) else None
        for m, n in zip(median, counted, strict=True)
    ]


def line_loss(
    transformer: str,
    day: date,
    supplied: Supplied,
    customers: Sequence[CustomerDay],
    limits: LineLossLimits = DEFAULT_LIMITS,
) -> LineLoss:
    """The day's figure over the expected ``customers`` (in service that day)."""
    counted = [c.day.value is not None and c.day.billed is not None for c in customers]
    included = [c for c, has in zip(customers, counted, strict=True) if has]
    missing = tuple(c.point for c, has in zip(customers, counted, strict=True) if not has)
    estimated = tuple(c.point for c in included if c.day.quality is not ValueQuality.ACTUAL)
    customers_kwh = sum(c.day.billed or 0.0 for c in included)
    loss = percent = None
    if supplied.value is not None:
        loss = supplied.value - customers_kwh
        percent = 100.0 * loss / supplied.value if supplied.value > ZERO_KWH else None
    if supplied.value is None or missing:
        quality = FigureQuality.INCOMPLETE
    elif estimated or supplied.quality is not ValueQuality.ACTUAL:
        quality = FigureQuality.INCLUDES_ESTIMATES
    else:
        quality = FigureQuality.MEASURED
    anomaly = None
    if percent is not None and percent > limits.threshold_percent:
        anomaly = Anomaly.ABOVE_THRESHOLD
    elif percent is not None and percent < -limits.negative_tolerance_percent:
        anomaly = Anomaly.NEGATIVE
    elif supplied.value is not None and supplied.value <= ZERO_KWH < customers_kwh:
        anomaly = Anomaly.NEGATIVE  # nothing supplied, yet the customers used energy
    suspects: tuple[Suspect, ...] = ()
    if anomaly is not None:
        suspects = _suspects(customers, anomaly, supplied, limits)
    return LineLoss(
        transformer,
        day,
        supplied,
        customers_kwh,
        loss,
        percent,
        len(customers),
        len(included),
        missing,
        estimated,
        quality,
        anomaly,
        suspects,
    )


def _suspects(
    customers: Sequence[CustomerDay],
    anomaly: Anomaly,
    supplied: Supplied,
    limits: LineLossLimits,
) -> tuple[Suspect, ...]:
    typical = typical_days(customers, limits.history_min_days)
    found: list[Suspect] = []
    for customer, usual in zip(customers, typical, strict=True):
        suspect = _suspect(customer, usual, anomaly, limits)
        if suspect is not None:
            found.append(suspect)
    if anomaly is Anomaly.NEGATIVE and supplied.meter is not None:
        found.append(
            Suspect(
                supplied.meter,
                SuspectReason.SUPPLY_METER,
                "the supply meter reads less than its customers: check its CT x PT and wiring",
                supplied.value,
                None,
                None,
            )
        )
    found.sort(key=lambda s: (_RANK[s.reason], -(s.explains_kwh or 0.0), s.meter))
    return tuple(found)


def _suspect(
    customer: CustomerDay, usual: float | None, anomaly: Anomaly, limits: LineLossLimits
) -> Suspect | None:
    row, point = customer.day, customer.point
    kwh = row.billed if row.value is not None else None
    judged = usual is not None and usual >= limits.floor_kwh

    def make(reason: SuspectReason, detail: str, explains: float | None) -> Suspect:
        return Suspect(point, reason, detail, kwh, usual, explains)

    if anomaly is Anomaly.ABOVE_THRESHOLD:
        if row.raw is not None and row.raw < -DECREASE_TOLERANCE:
            return make(SuspectReason.REGISTER_DECREASE, row.detail, usual)
        if kwh is None:
            return make(SuspectReason.MISSING, row.detail or "no value for the day", usual)
        occupied = customer.kind is MeterRole.HOUSEHOLD
        if occupied and abs(kwh) < ZERO_KWH and (usual is None or usual >= limits.floor_kwh):
            return make(SuspectReason.STOPPED, "no consumption on an occupied household", usual)
        if judged and usual is not None and kwh < limits.drop_share * usual:
            detail = f"{kwh:.3f} kWh against a typical {usual:.3f} kWh"
            return make(SuspectReason.DROP, detail, usual - kwh)
    else:
        if judged and usual is not None and kwh is not None and kwh > limits.spike_factor * usual:
            detail = f"{kwh:.3f} kWh against a typical {usual:.3f} kWh"
            return make(SuspectReason.SPIKE, detail, kwh - usual)
    if kwh is not None and row.quality is not ValueQuality.ACTUAL:
        rules = ", ".join(row.rules) or row.quality.value
        return make(SuspectReason.ESTIMATED, f"{row.quality.value} ({rules})", None)
    return None
