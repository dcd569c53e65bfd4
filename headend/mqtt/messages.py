"""JSON shapes the head-end publishes, shared by MQTT and the HTTP API's live stream."""

from __future__ import annotations

from typing import Any

from storage.records import EventRecord, Reading


def reading_to_json(reading: Reading) -> dict[str, Any]:
    message: dict[str, Any] = {
        "meter": reading.meter,
        "quantity": reading.quantity,
        "value": reading.value,
        "unit": reading.unit,
        "timestamp": reading.timestamp.isoformat(),
        "kind": reading.kind.value,
        "quality": reading.quality.value,
    }
    if reading.reason:
        message["reason"] = reading.reason
    if reading.tags:
        message["tags"] = dict(reading.tags)
    return message


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
