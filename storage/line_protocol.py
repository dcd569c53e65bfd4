"""Line-protocol serialisation, built for speed: the series key is formatted once and cached.

Escaping follows the InfluxDB rules, checked against InfluxDB 1.6 and VictoriaMetrics:
measurement names escape comma and space; tag keys, tag values and field keys escape comma,
equals and space; string field values escape double quote and backslash. A backslash inside a
tag is kept literally by the servers, so one that would merge with our escapes (at the end, or
before comma, equals or space) is refused, as are newlines, which end a line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from storage.errors import RecordError
from storage.records import CollectionStatus, EventRecord, Quality, Reading, ReadingKind
from storage.schema import (
    COLLECTION_MEASUREMENT,
    EVENT_MEASUREMENT,
    MEASUREMENT_BY_KIND,
    RESERVED_TAGS,
    Record,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_TAG_SPECIALS: Final = re.compile(r"[,= \\\n\r]")
_MEASUREMENT_SPECIALS: Final = re.compile(r"[, \\\n\r]")
_UNSAFE_BACKSLASH: Final = re.compile(r"\\(?=[,= ]|$)")
_STRING_SPECIALS: Final = re.compile(r'["\\\n\r]')
_QUALITY_FIELD: Final = {quality: f',quality="{quality.value}"' for quality in Quality}
_MAX_CACHED_SERIES: Final = 200_000
_MAX_CACHED_TIMESTAMPS: Final = 4096


def _refuse_newline_and_backslash(text: str, what: str) -> None:
    if "\n" in text or "\r" in text:
        raise RecordError(f"{what} {text!r}: newlines are not allowed in line protocol")
    if _UNSAFE_BACKSLASH.search(text):
        raise RecordError(
            f"{what} {text!r}: a backslash at the end or before ',', '=' or ' ' cannot be "
            "represented in line protocol"
        )


def validate_tag_value(value: str, what: str) -> None:
    """Refuse a tag value (or key) that has no line-protocol form, where it enters the system.

    The fleet config calls this for every field that becomes a tag, so that a building name with
    a newline is a config error naming the key, not a record every write would refuse later.
    """
    if not value:
        raise RecordError(f"{what}: empty strings are not allowed in line protocol")
    _refuse_newline_and_backslash(value, what)


def escape_measurement(name: str) -> str:
    """Escape a measurement name (comma and space)."""
    if not name:
        raise RecordError("measurement name is empty")
    if not _MEASUREMENT_SPECIALS.search(name):
        return name
    _refuse_newline_and_backslash(name, "measurement")
    return name.replace(",", r"\,").replace(" ", r"\ ")


def escape_key(text: str, what: str = "tag") -> str:
    """Escape a tag key, tag value or field key (comma, equals, space).

    ``what`` names the thing in the error, e.g. ``"tag transformer of meter M1"``.
    """
    if not text:
        raise RecordError(f"{what}: empty strings are not allowed in line protocol")
    if not _TAG_SPECIALS.search(text):
        return text
    _refuse_newline_and_backslash(text, what)
    return text.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def quote_string(text: str, what: str = "string field") -> str:
    """Quote a string field value, escaping double quote and backslash."""
    if not _STRING_SPECIALS.search(text):
        return f'"{text}"'
    if "\n" in text or "\r" in text:
        raise RecordError(f"{what} {text!r}: newlines are not allowed in line protocol")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def timestamp_ns(timestamp: datetime) -> int:
    """Nanoseconds since the Unix epoch, exact (no float rounding)."""
    return (timestamp - _EPOCH) // _ONE_US * 1000


def from_ns(ns: int) -> datetime:
    """The inverse of ``timestamp_ns`` (to the microsecond Python keeps)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def format_float(value: float, what: str) -> str:
    """A float field value; NaN and infinities have no line-protocol form."""
    number = float(value)
    if not math.isfinite(number):
        raise RecordError(f"{what}: value {number} is not finite")
    return repr(number)


def _series_key(
    measurement: str, fixed: Iterable[tuple[str, str]], tags: Mapping[str, str], owner: str
) -> str:
    parts = [escape_measurement(measurement)]
    for key, value in fixed:
        parts.append(f"{key}={escape_key(value, f'{key} of {owner}')}")
    for key in sorted(tags):
        if key in RESERVED_TAGS:
            raise RecordError(f"{owner}: tag {key!r} is reserved and set from the record itself")
        escaped_key = escape_key(key, f"tag key {key!r} of {owner}")
        escaped_value = escape_key(tags[key], f"tag {key!r} of {owner}")
        parts.append(f"{escaped_key}={escaped_value}")
    return ",".join(parts)


class LineEncoder:
    """Turns records into line-protocol lines (without trailing newline).

    Keeps a cache of series keys (measurement plus escaped tags), because a fleet writes the same
    few thousand series over and over and formatting the key is most of the cost.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[ReadingKind, str, str], tuple[str, Mapping[str, str], str]] = {}
        self._timestamps: dict[datetime, str] = {}

    def encode(self, record: Record) -> str:
        """One line for one record; raises RecordError naming the record on bad input."""
        if isinstance(record, Reading):
            return self.encode_reading(record)
        if isinstance(record, EventRecord):
            return self._encode_event(record)
        if isinstance(record, CollectionStatus):
            return self._encode_status(record)
        raise RecordError(f"cannot store {type(record).__name__}: not a storage record")

    def encode_many(self, records: Iterable[Record]) -> list[str]:
        """Lines for many records, in order.

        This is ``encode_reading`` inlined into the loop: at a million points a second the
        per-call overhead is a tenth of the cost, and this loop decides the write path's speed.
        """
        series = self._series
        timestamps = self._timestamps
        quality_field = _QUALITY_FIELD
        lines: list[str] = []
        append = lines.append
        for record in records:
            if type(record) is not Reading:
                append(self.encode(record))
                continue
            tags = record.tags
            entry = series.get((record.kind, record.meter, record.quantity))
            if (
                entry is None
                or entry[0] != record.unit
                or (entry[1] is not tags and entry[1] != tags)
            ):
                key = self._remember_series(record)
            else:
                key = entry[2]
            timestamp = record.timestamp
            ns = timestamps.get(timestamp)
            if ns is None:
                ns = self._remember_timestamp(timestamp)
            value = record.value
            if value is None or type(value) is not float or value - value != 0.0:
                append(self.encode_reading(record))  # the slow path owns the edge cases
                continue
            append(f"{key} value={value!r}{quality_field[record.quality]} {ns}")
        return lines

    def encode_reading(self, reading: Reading) -> str:
        """One reading, with the same caches as ``encode_many``.

        The series cache is keyed by (kind, meter, quantity) and checked against unit and tags.
        Tags are compared by identity first, because producers reuse one tags mapping per meter
        and that is cheaper than hashing it; a tags mapping must therefore not be mutated once a
        reading holds it (readings are immutable values).
        """
        tags = reading.tags
        entry = self._series.get((reading.kind, reading.meter, reading.quantity))
        if entry is None or entry[0] != reading.unit or (entry[1] is not tags and entry[1] != tags):
            key = self._remember_series(reading)
        else:
            key = entry[2]
        timestamp = reading.timestamp
        ns = self._timestamps.get(timestamp)
        if ns is None:
            ns = self._remember_timestamp(timestamp)
        value = reading.value
        if value is None:
            reason = quote_string(reading.reason or "", f"reason of {_owner(reading)}")
            return f'{key} quality="missing",reason={reason} {ns}'
        if type(value) is not float:
            value = float(value)
        if value - value != 0.0:
            raise RecordError(f"{_owner(reading)}: value {value} is not finite")
        return f"{key} value={value!r}{_QUALITY_FIELD[reading.quality]} {ns}"

    def _remember_series(self, reading: Reading) -> str:
        key = _series_key(
            MEASUREMENT_BY_KIND[reading.kind],
            (("meter", reading.meter), ("quantity", reading.quantity), ("unit", reading.unit))
            if reading.unit
            else (("meter", reading.meter), ("quantity", reading.quantity)),
            reading.tags,
            _owner(reading),
        )
        if len(self._series) >= _MAX_CACHED_SERIES:
            self._series.clear()
        self._series[(reading.kind, reading.meter, reading.quantity)] = (
            reading.unit,
            reading.tags,
            key,
        )
        return key

    def _remember_timestamp(self, timestamp: datetime) -> str:
        if len(self._timestamps) >= _MAX_CACHED_TIMESTAMPS:
            self._timestamps.clear()
        ns = str(timestamp_ns(timestamp))
        self._timestamps[timestamp] = ns
        return ns

    def _encode_event(self, event: EventRecord) -> str:
        owner = f"event {event.meter}/{event.event}"
        key = _series_key(
            EVENT_MEASUREMENT,
            (("meter", event.meter), ("event", event.event), ("severity", event.severity.value)),
            event.tags,
            owner,
        )
        fields = ["active=true" if event.active else "active=false"]
        if event.value is not None:
            fields.append(f"value={format_float(event.value, owner)}")
        if event.detail:
            fields.append(f"detail={quote_string(event.detail, f'detail of {owner}')}")
        fields.append(f'quality="{event.quality.value}"')
        return f"{key} {','.join(fields)} {timestamp_ns(event.timestamp)}"

    def _encode_status(self, status: CollectionStatus) -> str:
        owner = f"collection status {status.meter}"
        key = _series_key(COLLECTION_MEASUREMENT, (("meter", status.meter),), status.tags, owner)
        fields = [
            f'outcome="{status.outcome.value}"',
            f"attempted={status.attempted}i",
            f"succeeded={status.succeeded}i",
        ]
        if status.latency_s is not None:
            fields.append(f"latency_s={format_float(status.latency_s, owner)}")
        if status.reason:
            fields.append(f"reason={quote_string(status.reason, f'reason of {owner}')}")
        fields.append(f'quality="{Quality.ACTUAL.value}"')
        return f"{key} {','.join(fields)} {timestamp_ns(status.timestamp)}"


def _owner(reading: Reading) -> str:
    return f"reading {reading.meter}/{reading.quantity} at {reading.timestamp.isoformat()}"
