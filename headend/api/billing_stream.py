"""Billing responses produced a few meters at a time, as JSON or CSV text chunks.

Why streamed: a transformer-wide request for a year is millions of interval rows. Built whole,
it took 15-18 s of event-loop time and 1.6 GB, and collection stalled meanwhile. Here each
chunk is one store query (off the loop: the embedded store reads on its own thread) turned
into text on a worker thread and sent before the next is asked for, so memory stays at one
chunk and other requests and collection run meanwhile. The work a request may ask for is
still capped (``headend.api.routes.billing.MAX_METER_DAYS``); this module bounds memory and
loop time.

The JSON document has the shape of ``models.BillingOut``: ``daily`` rows for every meter
first (one pass over the chunks), then ``intervals`` (a second pass), then ``not_collected``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any, Final

from storage.billing import (
    BillingSource,
    DailyValue,
    DayState,
    StoredPoint,
    daily_values,
    interval_points,
    meter_chunks,
    order_intervals,
)
from storage.billing_csv import CSV_COLUMNS, NO_LABELS, MeterLabels, csv_text, daily_row
from storage.billing_csv import interval_row as csv_interval_row
from storage.tariffs import DEFAULT_TARIFF_NAMES, tariff_name

CHUNK_METER_DAYS: Final = 100
"""Meter-days per store query: at 15-minute intervals about 10,000 interval rows."""


@dataclass(frozen=True, slots=True)
class BillingPage:
    """One validated request: the meters of this page, the period, where the next page starts."""

    source: BillingSource
    meters: Sequence[str]
    quantities: Sequence[str]
    start: date
    end: date
    tz: tzinfo
    labels: Mapping[str, MeterLabels]
    next_cursor: str | None
    tariffs: Mapping[int, str] = field(default_factory=lambda: DEFAULT_TARIFF_NAMES)
    """The site's tariff names (``[site] tariff_names``) for the rows' ``tariff``."""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def chunks(self) -> list[Sequence[str]]:
        return list(meter_chunks(self.meters, self.days, CHUNK_METER_DAYS))

    async def daily(self) -> AsyncIterator[list[DailyValue]]:
        for chunk in self.chunks():
            yield await daily_values(
                self.source, chunk, self.quantities, self.start, self.end, self.tz
            )

    async def intervals(self) -> AsyncIterator[tuple[Sequence[str], list[StoredPoint]]]:
        """Each chunk's meters and its points, unsorted: ``order_intervals`` runs off the loop."""
        for chunk in self.chunks():
            points = await interval_points(
                self.source, chunk, self.quantities, self.start, self.end, self.tz, ordered=False
            )
            yield chunk, points


def _iso(timestamp: datetime | None) -> str | None:
    return None if timestamp is None else timestamp.isoformat()


def _number(value: float | None) -> str:
    return "null" if value is None else repr(value)  # stores refuse NaN and infinities


def _quoted(text: str | None) -> str:
    return "null" if text is None else json.dumps(text, ensure_ascii=False)


def _tariff(quantity: str, tariffs: Mapping[int, str]) -> str | None:
    return tariff_name(quantity, tariffs) or None


def _daily_json(row: DailyValue, tariffs: Mapping[int, str]) -> dict[str, Any]:
    return {
        "meter": row.meter,
        "day": row.day.isoformat(),
        "quantity": row.quantity,
        "state": row.state.value,
        "value": row.value,
        "unit": row.unit,
        "quality": row.quality.value if row.quality else None,
        "timestamp": _iso(row.timestamp),
        "reason": row.reason,
        "tariff": _tariff(row.quantity, tariffs),
    }


def _daily_items(rows: list[DailyValue], first: bool, tariffs: Mapping[int, str]) -> str:
    text = ",".join(json.dumps(_daily_json(row, tariffs), separators=(",", ":")) for row in rows)
    return text if first or not text else "," + text


def _interval_items(
    meters: Sequence[str], points: list[StoredPoint], first: bool, tariffs: Mapping[int, str]
) -> str:
    """Interval rows formatted directly: they are most of a large answer, and building a dict
    per row for ``json.dumps`` doubled the time. What a series' rows share (the tariff too) is
    formatted once per series."""
    series: dict[tuple[str, str, str], str] = {}
    items = []
    for point in order_intervals(points, meters):
        key = (point.meter, point.quantity, point.unit)
        head = series.get(key)
        if head is None:
            head = series[key] = (
                f'{{"meter":{_quoted(point.meter)},"quantity":{_quoted(point.quantity)},'
                f'"tariff":{_quoted(_tariff(point.quantity, tariffs))},'
                f'"unit":{_quoted(point.unit)},"timestamp":"'
            )
        items.append(
            f'{head}{point.timestamp.isoformat()}","value":{_number(point.value)},'
            f'"quality":"{point.quality.value}","reason":{_quoted(point.reason)}}}'
        )
    text = ",".join(items)
    return text if first or not text else "," + text


async def started(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
    """Run ``pieces`` up to the first store answer (the header, then the first chunk) before
    the response starts: a store that is down is then an error status, not a cut-off 200."""
    ready: list[str] = []
    async for piece in pieces:
        ready.append(piece)
        if len(ready) == 2:
            break

    async def replay() -> AsyncIterator[str]:
        for piece in ready:
            yield piece
        async for piece in pieces:
            yield piece

    return replay()


async def json_chunks(page: BillingPage) -> AsyncIterator[str]:
    """The ``BillingOut`` document, in pieces."""
    head = {
        "start": page.start.isoformat(),
        "end": page.end.isoformat(),
        "meters": list(page.meters),
        "next_cursor": page.next_cursor,
    }
    yield json.dumps(head, separators=(",", ":"))[:-1] + ',"daily":['
    not_collected = 0
    first = True
    async for rows in page.daily():
        not_collected += sum(1 for row in rows if row.state is DayState.NOT_COLLECTED)
        piece = await asyncio.to_thread(_daily_items, rows, first, page.tariffs)
        first = first and not rows
        yield piece
    yield '],"intervals":['
    first = True
    async for meters, points in page.intervals():
        piece = await asyncio.to_thread(_interval_items, meters, points, first, page.tariffs)
        first = first and not points
        yield piece
    yield f'],"not_collected":{not_collected}}}'


async def csv_chunks(page: BillingPage) -> AsyncIterator[str]:
    """The CSV table (``storage.billing_csv``): header, ``daily`` rows, ``interval`` rows."""
    yield csv_text([list(CSV_COLUMNS)])
    async for rows in page.daily():
        yield await asyncio.to_thread(_daily_csv, rows, page)
    async for meters, points in page.intervals():
        yield await asyncio.to_thread(_interval_csv, meters, points, page)


def _daily_csv(rows: list[DailyValue], page: BillingPage) -> str:
    return csv_text(
        daily_row(row, page.labels.get(row.meter, NO_LABELS), page.tz, page.tariffs) for row in rows
    )


def _interval_csv(meters: Sequence[str], points: list[StoredPoint], page: BillingPage) -> str:
    return csv_text(
        csv_interval_row(point, page.labels.get(point.meter, NO_LABELS), page.tz, page.tariffs)
        for point in order_intervals(points, meters)
    )
