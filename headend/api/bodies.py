"""JSON bodies of the read routes the dashboard polls, encoded without a pydantic model per row.

Validating one ``ReadingOut`` per reading and serialising it again cost most of a fleet-wide
``/api/readings/latest`` (hundreds of thousands of model instances a second under load, which
starved collection on the same event loop). Rows are plain dicts here, encoded by
``pydantic_core.to_json`` (the serialiser the models use, so the bytes are the same: the
datetime and float forms, ``null`` for a missing or non-finite value, a float for an integer
one); enum members go in as their values, which it encodes several times faster than the
members themselves. The routes keep their
``response_model`` for the OpenAPI document and answer with these bytes (``JsonBytes``).

A meter's readings are encoded once per change (``LatestValues.encoded_of``) as ``rows``:
the objects of a JSON array without its brackets, so the fleet-wide list and a meter page are
joins of them. ``tests/headend/api/test_bodies.py`` holds them to the models' own output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from fastapi.responses import Response
from pydantic_core import to_json

from storage.billing import StoredPoint
from storage.records import Reading


class JsonBytes(Response):
    """An already encoded JSON body (what ``JSONResponse`` would send, without encoding it)."""

    media_type = "application/json"


def _number(value: float | None) -> float | None:
    """What a ``float | None`` field holds: an int (an MQTT payload's ``12``) as a float."""
    return value if value is None or value.__class__ is float else float(value)


def _encode(rows: object) -> bytes:
    """The models' JSON: infinity and NaN as ``null`` (pydantic's ``ser_json_inf_nan``)."""
    return to_json(rows, inf_nan_mode="null")


def reading_row(reading: Reading) -> dict[str, object]:
    """A reading as a ``ReadingOut`` row (same keys, same order)."""
    return {
        "meter": reading.meter,
        "quantity": reading.quantity,
        "value": _number(reading.value),
        "unit": reading.unit,
        "timestamp": reading.timestamp,
        "kind": reading.kind._value_,
        "quality": reading.quality._value_,
        "reason": reading.reason,
    }


def reading_rows(readings: Sequence[Reading]) -> bytes:
    """The readings as the comma-separated objects of a ``list[ReadingOut]`` (no brackets)."""
    if not readings:
        return b""
    return _encode([reading_row(r) for r in readings])[1:-1]


def json_array(rows: Iterable[bytes]) -> bytes:
    """A JSON array of the non-empty ``rows`` fragments, built by one join: the fleet-wide list
    is hundreds of kilobytes, and each fresh buffer of that size costs its page faults (a
    second copy to add the brackets doubled the route's own time)."""
    parts = [row for row in rows if row]
    if not parts:
        return b"[]"
    parts[0] = b"[" + parts[0]
    parts[-1] += b"]"
    return b",".join(parts)


def readings_json(readings: Sequence[Reading]) -> bytes:
    """``list[ReadingOut]`` of the readings."""
    return b"[" + reading_rows(readings) + b"]"


def meter_json(summary: Mapping[str, object], rows: bytes) -> bytes:
    """A ``MeterDetail``: the meter's summary, then ``latest`` from its encoded rows."""
    return _encode(summary)[:-1] + b',"latest":[' + rows + b"]}"


def point_row(point: StoredPoint) -> dict[str, object]:
    """A stored point as a ``PointOut`` row (same keys, same order)."""
    return {
        "timestamp": point.timestamp,
        "value": _number(point.value),
        "unit": point.unit,
        "quality": point.quality._value_,
        "reason": point.reason,
    }


def history_json(head: Mapping[str, object], points: Sequence[StoredPoint]) -> bytes:
    """A ``History``: ``head`` (meter, quantity, kind, start, end), then its points."""
    return _encode({**head, "points": [point_row(p) for p in points]})
