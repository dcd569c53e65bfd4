"""Curves for the dashboard's overview: a transformer's load and a building's voltage over time.

Sans-IO: the route (``routes/trends.py``) fetches the stored points, this module buckets them.
The figures follow the live overview (``fleet_view``) and the overload rule, so a curve's last
bucket and the live row agree:

- a transformer's load is measured (its terminal or LV-side meter) when that device has a value
  in the bucket, else the sum of its load meters' averages scaled up to all of them (the rule's
  estimate when some meters are silent); the load rate is that over ``rated_kva`` x the rules'
  assumed power factor;
- a building's voltage is the minimum and the mean of every phase voltage stored in the bucket
  (the far end of a feeder is its minimum).

A bucket with nothing stored is ``None``: a gap in the curve, never a zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class TimedValue:
    """One stored value of one source (a meter or a terminal device) at one instant."""

    source: str
    at: datetime
    value: float


def bucket_starts(start: datetime, end: datetime, width: timedelta) -> list[datetime]:
    """The bucket starts from ``start`` (inclusive) to ``end`` (exclusive)."""
    starts = []
    at = start
    while at < end:
        starts.append(at)
        at += width
    return starts


def _index(at: datetime, start: datetime, width: timedelta, count: int) -> int | None:
    if at < start:
        return None
    index = int((at - start) / width)
    return index if index < count else None


def _means_by_source(
    values: Iterable[TimedValue], start: datetime, width: timedelta, count: int
) -> list[dict[str, float]]:
    """Per bucket: source -> the mean of its values in the bucket."""
    sums: list[dict[str, list[float]]] = [defaultdict(lambda: [0.0, 0.0]) for _ in range(count)]
    for item in values:
        index = _index(item.at, start, width, count)
        if index is not None:
            total = sums[index][item.source]
            total[0] += item.value
            total[1] += 1.0
    return [{s: t[0] / t[1] for s, t in bucket.items()} for bucket in sums]


def load_curve(
    meter_power: Iterable[TimedValue],
    load_meters: Sequence[str],
    measured_power: Iterable[TimedValue],
    start: datetime,
    width: timedelta,
    count: int,
) -> list[tuple[float, str] | None]:
    """Per bucket: (kW, "terminal" or "meters") or None when nothing is stored.

    ``measured_power`` is the transformer's own device(s) (terminal, LV-side meter): their mean
    wins when present. Otherwise the meters that answered are scaled up to ``load_meters``.
    """
    meters = _means_by_source(meter_power, start, width, count)
    measured = _means_by_source(measured_power, start, width, count)
    curve: list[tuple[float, str] | None] = []
    for own, loads in zip(measured, meters, strict=True):
        if own:
            curve.append((sum(own.values()), "terminal"))
        elif loads and load_meters:
            answered = sum(1 for m in load_meters if m in loads)
            if answered == 0:
                curve.append(None)
                continue
            total = sum(loads[m] for m in load_meters if m in loads)
            curve.append((total * len(load_meters) / answered, "meters"))
        else:
            curve.append(None)
    return curve


def load_rate(kw: float, rated_kva: float, power_factor: float) -> float:
    """The overload rule's rate: kW over kVA x the assumed power factor (1.0 = 100 %)."""
    return kw / (rated_kva * power_factor)


def voltage_curve(
    voltages: Iterable[TimedValue], start: datetime, width: timedelta, count: int
) -> list[tuple[float, float] | None]:
    """Per bucket: (min, mean) of every voltage value stored in it, or None."""
    low: list[float | None] = [None] * count
    sums = [0.0] * count
    counts = [0] * count
    for item in voltages:
        index = _index(item.at, start, width, count)
        if index is None:
            continue
        current = low[index]
        low[index] = item.value if current is None else min(current, item.value)
        sums[index] += item.value
        counts[index] += 1
    return [None if (m := low[i]) is None else (m, sums[i] / counts[i]) for i in range(count)]
