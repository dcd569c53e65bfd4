"""Transformer-terminal JSON telemetry -> readings (pure: bytes in, readings and problems out).

The payload shape follows what province terminal specifications and public code use:
``{"token": ..., "timestamp": ..., "body": [{"dev": ..., "body": [{"name", "val", "quality",
"timestamp"}]}]}``. Names (``PhV_phsA``, ``TotW`` ...) are mapped to our quantity names, in
their canonical units, by a configurable table, because provinces differ. One bad item or
unknown device is reported and skipped; the rest of the message is still used, so one faulty
sensor does not blind the operator to the whole transformer.

Anything a peer sends may be hostile, and a retained message is delivered again at every
reconnect: so nothing here may raise anything but ``BadPayload`` (or report a problem), and
the cost of one message is bounded before it is parsed (size, nesting, digits, item count).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

import msgspec

from headend.config.terminal_points import TerminalPoint, default_point
from headend.errors import HeadendError
from storage.records import Quality, Reading

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST: Final = _EPOCH + timedelta(microseconds=-(2**63 // 1000))
LATEST: Final = _EPOCH + timedelta(microseconds=(2**63 - 1) // 1000)
"""Storage keeps time as signed 64-bit nanoseconds since 1970 (line protocol and the embedded
store's ``ts_ns``): 1677-09-21 to 2262-04-11 UTC. Anything outside could never be stored and
would make every batch that carries it fail."""
_EARLIEST_S: Final = (EARLIEST - _EPOCH).total_seconds()
_LATEST_S: Final = (LATEST - _EPOCH).total_seconds()
MAX_INTEGER_DIGITS: Final = 20
"""Longer integers are read as floats (an infinite one is then refused as not finite), so a
5000-digit number costs nothing and never hits Python's int conversion limit."""
MAX_TEXT: Final = 64
"""Timestamps and quality flags longer than this are not what a terminal sends."""


class BadPayload(HeadendError, ValueError):
    """The whole message is unusable (not JSON, wrong shape, too big); names the topic.

    ``reason`` is a short label for counting (``too_large``, ``not_json``, ...)."""

    def __init__(self, topic: str, reason: str, problem: str) -> None:
        self.topic = topic
        self.reason = reason
        self.problem = problem
        super().__init__(f"topic {topic!r}: {problem}")


class ItemProblem(HeadendError, ValueError):
    """One item is unusable; ``reason`` labels it for counting, the text names it."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Problem:
    reason: str
    text: str


@dataclass(frozen=True, slots=True)
class PayloadLimits:
    max_bytes: int = 256 * 1024
    max_items: int = 5000
    """Devices plus values in one message."""


@dataclass(slots=True)
class ParsedTelemetry:
    readings: list[Reading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    """One per skipped item: which device, which name, why."""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bounded_int(text: str) -> int | float:
    return int(text) if len(text) <= MAX_INTEGER_DIGITS else float(text)


_DECODER: Final = json.JSONDecoder(parse_int=_bounded_int)


def parse_timestamp(raw: object) -> datetime:
    """ISO 8601 (``2026-11-23T10:00:00.000+0800`` or with ``Z``) or epoch seconds/milliseconds,
    within the storable range; anything else is a ``ValueError`` naming the value."""
    if isinstance(raw, bool):
        raise ValueError(f"timestamp {_short(raw)} is not a time")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError(f"timestamp {_short(raw)} is not finite")
        seconds = raw / 1000 if raw > 1e11 else raw
        if not _EARLIEST_S <= seconds <= _LATEST_S:
            raise ValueError(f"timestamp {_short(raw)} is outside the storable range")
        return _EPOCH + timedelta(seconds=seconds)
    if isinstance(raw, str):
        if len(raw) > MAX_TEXT:
            raise ValueError(f"timestamp {_short(raw)} is too long to be a time")
        text = raw.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"timestamp {_short(raw)} is not ISO 8601") from None
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp {_short(raw)} has no time zone")
        try:
            moment = parsed.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"timestamp {_short(raw)} is outside the storable range") from None
        if not EARLIEST <= moment <= LATEST:
            raise ValueError(f"timestamp {_short(raw)} is outside the storable range")
        return moment
    raise ValueError(f"timestamp {_short(raw)} is not a time")


def _decode(topic: str, payload: bytes, limits: PayloadLimits) -> Any:
    if len(payload) > limits.max_bytes:
        problem = f"{len(payload)} bytes, more than the limit of {limits.max_bytes}"
        raise BadPayload(topic, "too_large", problem)
    try:
        # json.loads(payload, parse_int=...) as it was, without building a decoder per message.
        return _DECODER.decode(payload.decode(json.detect_encoding(payload), "surrogatepass"))
    except RecursionError:
        raise BadPayload(topic, "too_deep", "not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        # Both messages are short and fixed in shape (what, then where: line, column, byte).
        raise BadPayload(topic, "not_json", f"not JSON: {exc}") from None


class _Item(msgspec.Struct):
    """A value as terminals send it: every field text, the timestamp left to the message."""

    name: str
    val: str
    quality: str = "0"
    timestamp: str | msgspec.UnsetType = msgspec.UNSET


class _Device(msgspec.Struct):
    dev: str
    body: list[_Item]


class _Message(msgspec.Struct):
    body: list[_Device]
    timestamp: str | msgspec.UnsetType = msgspec.UNSET


_TYPED: Final = msgspec.json.Decoder(_Message)
"""The common message decoded straight into the shapes above, several times faster than
``json`` into dicts. Anything else (a number as a value, a null, a wrong shape, UTF-16, NaN,
a lone surrogate) fails here and takes the general path, which says what is wrong with it."""


def parse_terminal_payload(
    topic: str,
    payload: bytes,
    names: Mapping[str, str | TerminalPoint],
    transformer_of_device: Mapping[str, str],
    limits: PayloadLimits = PayloadLimits(),
) -> ParsedTelemetry:
    if len(payload) <= limits.max_bytes:
        try:
            typed = _TYPED.decode(payload)
        except (msgspec.DecodeError, RecursionError):
            pass
        else:
            parsed = _common(typed, names, transformer_of_device, limits)
            if parsed is not None:
                return parsed
    return _general(topic, payload, names, transformer_of_device, limits)


def _common(
    message: _Message,
    names: Mapping[str, str | TerminalPoint],
    transformer_of_device: Mapping[str, str],
    limits: PayloadLimits,
) -> ParsedTelemetry | None:
    """The readings of a message with nothing to report, as ``_general`` makes them; None at
    the first thing ``_general`` would report (an unknown device, a bad value or time, a
    doubtful quality), which then parses the message again that way."""
    devices = message.body
    if len(devices) + sum(len(d.body) for d in devices) > limits.max_items:
        return None
    default_time = message.timestamp
    result = ParsedTelemetry()
    append = result.readings.append
    actual = Reading.actual
    stamps: dict[str, datetime] = {}
    isfinite = math.isfinite
    for device in devices:
        dev = device.dev
        transformer = transformer_of_device.get(dev)
        if transformer is None:
            return None
        tags = {"transformer": transformer, "source": "terminal"}
        for item in device.body:
            spec = names.get(item.name)
            if spec is None:
                continue  # a value we do not map is not an error: terminals send dozens
            point = spec if spec.__class__ is TerminalPoint else _point_of_name(item.name, spec)
            assert isinstance(point, TerminalPoint)
            raw, stamp = item.val, item.timestamp
            if stamp is msgspec.UNSET:
                stamp = default_time
            if (
                len(raw) > MAX_TEXT
                or item.quality not in _ACTUAL_FLAGS
                or stamp.__class__ is not str
            ):
                return None
            assert isinstance(stamp, str)
            timestamp = stamps.get(stamp)
            if timestamp is None:
                try:
                    timestamp = stamps[stamp] = parse_timestamp(stamp)
                except ValueError:
                    return None
            try:
                number = float(raw)
            except ValueError:
                return None
            value = number * point.factor
            if not (isfinite(number) and isfinite(value)):
                return None
            # Checked here (finite value, aware time): no ``__post_init__``.
            append(actual(dev, point.quantity, value, point.unit, timestamp, point.kind, tags))
    return result


def _general(
    topic: str,
    payload: bytes,
    names: Mapping[str, str | TerminalPoint],
    transformer_of_device: Mapping[str, str],
    limits: PayloadLimits,
) -> ParsedTelemetry:
    """Any message: every problem named, the usable rest kept."""
    message = _decode(topic, payload, limits)
    if not isinstance(message, dict):
        problem = f"expected a JSON object, got {type(message).__name__}"
        raise BadPayload(topic, "not_object", problem)
    devices = message.get("body")
    if not isinstance(devices, list):
        raise BadPayload(topic, "no_body", "missing 'body' list of devices")
    count = len(devices) + sum(
        len(d["body"]) for d in devices if isinstance(d, dict) and isinstance(d.get("body"), list)
    )
    if count > limits.max_items:
        problem = f"{count} items, more than the limit of {limits.max_items}"
        raise BadPayload(topic, "too_many_items", problem)
    default_time = message.get("timestamp")
    result = ParsedTelemetry()
    # A terminal stamps every item of a message with the same text: parse each text once.
    stamps: dict[str, datetime] = {}
    append = result.readings.append
    actual = Reading.actual
    for index, device in enumerate(devices):
        if not isinstance(device, dict) or not isinstance(device.get("dev"), str):
            text = f"body[{index}]: expected an object with a 'dev' name"
            result.problems.append(Problem("bad_device", text))
            continue
        dev: str = device["dev"]
        transformer = transformer_of_device.get(dev)
        if transformer is None:
            text = f"body[{index}]: unknown device {_short(dev)}"
            result.problems.append(Problem("unknown_device", text))
            continue
        items = device.get("body")
        if not isinstance(items, list):
            text = f"device {dev!r}: missing 'body' list of values"
            result.problems.append(Problem("bad_device", text))
            continue
        # One tags mapping per device, shared by its readings (frozen, never written to).
        tags = {"transformer": transformer, "source": "terminal"}
        for item_index, item in enumerate(items):
            # The common item (a mapped name, a number as text, a timestamp already parsed in
            # this message, a good quality) is built here; anything else takes the full path.
            name = item.get("name") if item.__class__ is dict else None
            if name.__class__ is str:
                spec = names.get(name)
                if spec is None:
                    continue  # a value we do not map is not an error: terminals send dozens
                raw = item.get("val")
                stamp = item.get("timestamp", default_time)
                quality = item.get("quality", "0")
                if (
                    spec.__class__ is TerminalPoint
                    and raw.__class__ is str
                    and len(raw) <= MAX_TEXT
                    and stamp.__class__ is str
                    and stamp in stamps
                    and quality.__class__ is str
                    and quality in _ACTUAL_FLAGS
                ):
                    assert isinstance(spec, TerminalPoint)
                    try:
                        value = float(raw) * spec.factor
                    except ValueError:
                        value = math.nan  # refused, with its message, by the full path
                    if math.isfinite(value):
                        # Checked here (finite value, aware time): no ``__post_init__``.
                        append(
                            actual(
                                dev, spec.quantity, value, spec.unit, stamps[stamp], spec.kind, tags
                            )
                        )
                        continue
            try:
                reading = _item_reading(item, dev, tags, names, default_time, stamps)
            except ItemProblem as exc:
                where = f"device {dev!r} body[{item_index}]"
                result.problems.append(Problem(exc.reason, f"{where}: {exc}"))
                continue
            if reading is not None:
                result.readings.append(reading)
    return result


def _number(name: str, raw: object) -> float:
    if raw.__class__ is str and len(raw) <= MAX_TEXT:
        try:  # the common case (terminals send numbers as text), checked as below
            value = float(raw)
        except ValueError:
            raise ItemProblem("bad_value", f"{name}: value {_short(raw)} is not a number") from None
        if not math.isfinite(value):
            raise ItemProblem("bad_value", f"{name}: value {_short(raw)} is not finite")
        return value
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ItemProblem("bad_value", f"{name}: value {_short(raw)} is not a number")
    if isinstance(raw, str) and len(raw) > MAX_TEXT:
        raise ItemProblem("bad_value", f"{name}: value {_short(raw)} is too long to be a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise ItemProblem("bad_value", f"{name}: value {_short(raw)} is not a number") from None
    if not math.isfinite(value):
        raise ItemProblem("bad_value", f"{name}: value {_short(raw)} is not finite")
    return value


_point_of_name = lru_cache(maxsize=4096)(default_point)
"""A string entry's point, resolved once per (name, quantity) rather than once per item."""

_ACTUAL_FLAGS: Final = frozenset({"0", "good"})


def _item_reading(
    item: Any,
    dev: str,
    tags: Mapping[str, str],
    names: Mapping[str, str | TerminalPoint],
    default_time: object,
    stamps: dict[str, datetime],
) -> Reading | None:
    if not isinstance(item, dict):
        raise ItemProblem("bad_item", "expected an object")
    name = item.get("name")
    if not isinstance(name, str):
        raise ItemProblem("bad_item", "missing 'name'")
    spec = names.get(name)
    if spec is None:
        return None  # a value we do not map is not an error: terminals send dozens
    point = spec if isinstance(spec, TerminalPoint) else _point_of_name(name, spec)
    value = _number(name, item.get("val")) * point.factor
    if not math.isfinite(value):
        raise ItemProblem("bad_value", f"{name}: value {_short(item.get('val'))} is out of range")
    stamp = item.get("timestamp", default_time)
    if stamp is None:
        raise ItemProblem("bad_timestamp", f"{name}: no timestamp")
    timestamp = stamps.get(stamp) if stamp.__class__ is str else None
    if timestamp is None:
        try:
            timestamp = parse_timestamp(stamp)
        except ValueError as exc:
            raise ItemProblem("bad_timestamp", f"{name}: {exc}") from None
        if stamp.__class__ is str:
            stamps[stamp] = timestamp
    raw_quality = item.get("quality", "0")
    if raw_quality.__class__ is str and raw_quality in _ACTUAL_FLAGS:
        return Reading(dev, point.quantity, value, point.unit, timestamp, point.kind, tags=tags)
    if isinstance(raw_quality, bool) or not isinstance(raw_quality, str | int):
        raise ItemProblem("bad_quality", f"{name}: quality {_short(raw_quality)} is not a flag")
    quality = str(raw_quality)
    if len(quality) > 8 or not quality.isalnum():
        raise ItemProblem("bad_quality", f"{name}: quality {_short(raw_quality)} is not a flag")
    if quality in _ACTUAL_FLAGS:  # an integer 0
        return Reading(dev, point.quantity, value, point.unit, timestamp, point.kind, tags=tags)
    # The terminal flags its own measurement as doubtful: keep it, but never as actual.
    reason = f"terminal_quality_{quality}"
    return Reading(
        dev,
        point.quantity,
        value,
        point.unit,
        timestamp,
        point.kind,
        Quality.ESTIMATED,
        reason,
        tags,
    )
