"""Transformer-terminal JSON telemetry -> readings (pure: bytes in, readings and problems out).

The payload shape follows what province terminal specifications and public code use:
``{"token": ..., "timestamp": ..., "body": [{"dev": ..., "body": [{"name", "val", "quality",
"timestamp"}]}]}``. Names (``PhV_phsA``, ``TotW`` ...) are mapped to our quantity names by a
configurable table, because provinces differ. One bad item or unknown device is reported and
skipped; the rest of the message is still used, so one faulty sensor does not blind the
operator to the whole transformer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from headend.readings import Quality, Reading, ReadingKind

UNITS: Mapping[str, tuple[str, ReadingKind]] = {
    "voltage_a": ("V", ReadingKind.INSTANT),
    "voltage_b": ("V", ReadingKind.INSTANT),
    "voltage_c": ("V", ReadingKind.INSTANT),
    "current_a": ("A", ReadingKind.INSTANT),
    "current_b": ("A", ReadingKind.INSTANT),
    "current_c": ("A", ReadingKind.INSTANT),
    "power_active_total": ("kW", ReadingKind.INSTANT),
    "power_reactive_total": ("kvar", ReadingKind.INSTANT),
    "power_factor_total": ("", ReadingKind.INSTANT),
    "frequency": ("Hz", ReadingKind.INSTANT),
    "load_rate": ("%", ReadingKind.INSTANT),
    "oil_temperature": ("degC", ReadingKind.INSTANT),
    "winding_temperature": ("degC", ReadingKind.INSTANT),
    "energy_active_import_total": ("kWh", ReadingKind.ENERGY),
}


class BadPayload(ValueError):
    """The whole message is unusable (not JSON, wrong shape); names the topic."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(f"topic {topic!r}: {problem}")


@dataclass(slots=True)
class ParsedTelemetry:
    readings: list[Reading] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per skipped item: which device, which name, why."""


def parse_timestamp(raw: object) -> datetime:
    """ISO 8601 (``2026-11-23T10:00:00.000+0800`` or with ``Z``) or epoch seconds/milliseconds."""
    if isinstance(raw, bool):
        raise ValueError(f"timestamp {raw!r} is not a time")
    if isinstance(raw, int | float):
        seconds = raw / 1000 if raw > 1e11 else raw
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp {raw!r} has no time zone")
        return parsed.astimezone(UTC)
    raise ValueError(f"timestamp {raw!r} is not a time")


def parse_terminal_payload(
    topic: str,
    payload: bytes,
    names: Mapping[str, str],
    transformer_of_device: Mapping[str, str],
) -> ParsedTelemetry:
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadPayload(topic, f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadPayload(topic, f"expected a JSON object, got {type(message).__name__}")
    devices = message.get("body")
    if not isinstance(devices, list):
        raise BadPayload(topic, "missing 'body' list of devices")
    default_time = message.get("timestamp")
    result = ParsedTelemetry()
    for index, device in enumerate(devices):
        if not isinstance(device, dict) or not isinstance(device.get("dev"), str):
            result.problems.append(f"body[{index}]: expected an object with a 'dev' name")
            continue
        dev: str = device["dev"]
        transformer = transformer_of_device.get(dev)
        if transformer is None:
            result.problems.append(f"body[{index}]: unknown device {dev!r}")
            continue
        items = device.get("body")
        if not isinstance(items, list):
            result.problems.append(f"device {dev!r}: missing 'body' list of values")
            continue
        for item_index, item in enumerate(items):
            where = f"device {dev!r} body[{item_index}]"
            try:
                reading = _item_reading(item, dev, transformer, names, default_time)
            except ValueError as exc:
                result.problems.append(f"{where}: {exc}")
                continue
            if reading is not None:
                result.readings.append(reading)
    return result


def _item_reading(
    item: Any, dev: str, transformer: str, names: Mapping[str, str], default_time: object
) -> Reading | None:
    if not isinstance(item, dict):
        raise ValueError("expected an object")
    name = item.get("name")
    if not isinstance(name, str):
        raise ValueError("missing 'name'")
    quantity = names.get(name)
    if quantity is None:
        return None  # a value we do not map is not an error: terminals send dozens
    unit, kind = UNITS.get(quantity, ("", ReadingKind.INSTANT))
    raw_value = item.get("val")
    try:
        value = float(raw_value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: value {raw_value!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name}: value {raw_value!r} is not finite")
    stamp = item.get("timestamp", default_time)
    if stamp is None:
        raise ValueError(f"{name}: no timestamp")
    timestamp = parse_timestamp(stamp)
    quality = str(item.get("quality", "0"))
    tags = {"transformer": transformer, "source": "terminal"}
    if quality in ("0", "good"):
        return Reading(dev, quantity, value, unit, timestamp, kind, Quality.ACTUAL, None, tags)
    # The terminal flags its own measurement as doubtful: keep it, but never as actual.
    reason = f"terminal_quality_{quality}"
    return Reading(dev, quantity, value, unit, timestamp, kind, Quality.ESTIMATED, reason, tags)
