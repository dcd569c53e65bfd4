"""JSON shapes the head-end publishes, shared by MQTT and the HTTP API's live stream."""

from __future__ import annotations

from typing import Any

from storage.records import Reading


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
