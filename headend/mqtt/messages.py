"""JSON shapes the head-end publishes, shared by MQTT and the HTTP API's live stream."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import msgspec

from storage.records import EventRecord, Reading

_ENCODE: Final = msgspec.json.Encoder().encode
"""Compact JSON (UTF-8, no spaces) about six times faster than ``json``: every stored reading is
published, 14 a terminal message."""
_iso = lru_cache(maxsize=4096)(datetime.isoformat)
"""A batch holds many readings of the same few times: each text is made once."""


def reading_to_json(reading: Reading) -> dict[str, Any]:
    message: dict[str, Any] = {
        "meter": reading.meter,
        "quantity": reading.quantity,
        "value": reading.value,
        "unit": reading.unit,
        "timestamp": _iso(reading.timestamp),
        "kind": reading.kind.value,
        "quality": reading.quality.value,
    }
    if reading.reason:
        message["reason"] = reading.reason
    if reading.tags:
        message["tags"] = dict(reading.tags)
    return message


def reading_payload(reading: Reading) -> bytes:
    """``reading_to_json`` as the compact JSON bytes of a published message."""
    return _ENCODE(reading_to_json(reading))


def event_topic(record: EventRecord) -> str:
    """``events/<meter>/<event>``, under the bridge's publish prefix."""
    return f"events/{record.meter}/{record.event}"


def event_to_json(record: EventRecord) -> dict[str, Any]:
    return {
        "meter": record.meter,
        "event": record.event,
        "timestamp": record.timestamp.isoformat(),
        "severity": record.severity.value,
        "active": record.active,
        "value": record.value,
        "detail": record.detail,
        "tags": dict(record.tags),
    }
