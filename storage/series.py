"""Series ids of the embedded store, kept in memory, and a batch of readings turned into rows.

Why in memory: each row needs its series id, and a lookup in SQLite per row would cost what
the narrow table saves. The map lives on the writer's thread only (its one connection), is
loaded at open, and grows inside the batch's transaction: if the transaction rolls back, the
ids it added are forgotten too (``rollback``), so memory never names a series the file lacks.

A series is (measurement, meter, quantity, unit, tags), as in InfluxDB, but the overwrite
rule stays the store's: one point per measurement, meter, quantity and timestamp. A meter whose
tags or unit change gets a second series of the same (measurement, meter, quantity); only for
those (``_shared``: a meter moved to another transformer, say) does a write also delete the
point another series holds at that time, if that time is not after the other's newest point
(so reading forward after a move costs nothing more), and keep only the last of one batch.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Final, TypeAlias

from storage.embedded_schema import QUALITY_CODES
from storage.line_protocol import timestamp_ns
from storage.records import Quality, Reading, ReadingKind
from storage.schema import MEASUREMENT_BY_KIND

log = logging.getLogger(__name__)

PointRow: TypeAlias = tuple[int, int, float | None, int, str | None]
"""A ``points`` row: series, ts_ns, value, quality code, reason."""
SeriesKey: TypeAlias = tuple[str, str, ReadingKind]
"""meter, quantity, kind: the points that overwrite each other (with the timestamp)."""
Labels: TypeAlias = tuple[int, str, str]
"""A series as the map keeps it: id, unit, tags text."""

_QUALITY_TEXT: Final = {quality: quality.value for quality in Quality}
_ROW_KEY: Final = itemgetter(0, 1)
_FROZEN_KEY: Final = itemgetter(1, 2, 3)


@dataclass(slots=True)
class PointBatch:
    """What one ``write`` stores of its readings, made on the writer's thread."""

    rows: list[PointRow] = field(default_factory=list)
    """In key order (stable: of two rows with one key, the later stays later and wins)."""
    replaced: list[tuple[int, int]] = field(default_factory=list)
    """(series, ts_ns) points of another series of the same key: deleted before ``rows``."""
    frozen: list[tuple[Any, ...]] = field(default_factory=list)
    """Frozen values in the change log's row form (``storage.exports.change_log``)."""
    refused: list[tuple[int, str, str]] = field(default_factory=list)
    """Dead letters: (created_ns, record repr, error)."""


class SeriesIds:
    """(meter, quantity, kind, unit, tags) -> series id for one store file."""

    def __init__(self) -> None:
        self._labels: dict[SeriesKey, Labels | list[Labels]] = {}
        """One series of a key as its ``Labels`` (no container: a fleet has millions), several
        as a list."""
        self._shared: dict[int, SeriesKey] = {}
        """Series whose key has more than one series, and that key."""
        self._newest_ns: dict[int, int] = {}
        """Newest point of a shared series, once it was needed (an upper bound)."""
        self._undo: list[SeriesKey] = []
        self._undo_labels: list[tuple[Labels, ...] | None] = []
        self._next_id = 1
        self._committed_next_id = 1
        self._new: list[tuple[int, str, str, str, str, str, str | None]] = []
        """``series`` rows of the batch being made, inserted at its end in one executemany
        (ids given here: a statement per new series cost as much as its row)."""

    def load(self, connection: sqlite3.Connection) -> int:
        """Read every series of the file; returns how many."""
        kinds = {measurement: kind for kind, measurement in MEASUREMENT_BY_KIND.items()}
        count = 0
        # SQLite hands out a new str per cell: one object per distinct text instead (a meter's
        # name and tags, a quantity's name repeat on every one of its series).
        texts: dict[str, str] = {}
        one = texts.setdefault
        rows = connection.execute("SELECT id, measurement, meter, quantity, unit, tags FROM series")
        for series, measurement, meter, quantity, unit, tags in rows:
            kind = kinds.get(measurement)
            if kind is not None:
                key = (one(meter, meter), one(quantity, quantity), kind)
                self._add(key, (int(series), one(unit, unit), one(tags, tags)))
                count += 1
            self._next_id = max(self._next_id, int(series) + 1)
        self._committed_next_id = self._next_id
        self._undo.clear()
        self._undo_labels.clear()
        return count

    def rollback(self) -> None:
        """Forget the series added since the last ``commit``: their transaction rolled back."""
        while self._undo:
            key = self._undo.pop()
            previous = self._undo_labels.pop()
            kept = {series for series, _unit, _text in previous or ()}
            for series, _unit, _text in self._all(key):
                if series not in kept:  # SQLite may give its id to the next series
                    self._newest_ns.pop(series, None)
            self._set(key, previous)
        self._next_id = self._committed_next_id
        self._new.clear()

    def commit(self) -> None:
        """The series added so far are in the file."""
        self._committed_next_id = self._next_id
        self._undo.clear()
        self._undo_labels.clear()

    def batch(self, connection: sqlite3.Connection, readings: Sequence[Reading]) -> PointBatch:
        """Rows for ``readings``; new series are inserted on ``connection`` (in its open
        transaction). A reading with no stored form goes to ``refused``, alone."""
        out = PointBatch()
        rows = out.rows
        labels = self._labels
        texts: dict[int, str] = {}
        codes = QUALITY_CODES
        for reading in readings:
            value = reading.value
            if value is not None and not math.isfinite(value):
                error = (
                    f"reading {reading.meter}/{reading.quantity} at "
                    f"{reading.timestamp.isoformat()}: value {value} is not finite"
                )
                log.error("embedded store dead-lettered a record: %s", error)
                out.refused.append((time.time_ns(), repr(reading), error))
                continue
            tags = reading.tags
            text = texts.get(id(tags))  # a batch keeps its tags mappings alive: ids are unique
            if text is None:
                text = texts[id(tags)] = tags_json(tags)
            key = (reading.meter, reading.quantity, reading.kind)
            known = labels.get(key)
            if isinstance(known, tuple):
                series, unit, stored_text = known
                if unit != reading.unit or stored_text != text:
                    series = self._series(key, reading.unit, text, tags)
            else:
                series = self._series(key, reading.unit, text, tags)
            stamp = _stamp_ns(reading.timestamp)
            rows.append((series, stamp, value, codes[reading.quality], reading.reason))
            if reading.kind is ReadingKind.FROZEN and value is not None:
                out.frozen.append(
                    (
                        "frozen",
                        reading.meter,
                        reading.quantity,
                        stamp,
                        value,
                        reading.unit,
                        _QUALITY_TEXT[reading.quality],
                        reading.reason,
                        tags.get("transformer"),
                        text,
                    )
                )
        if self._new:
            connection.executemany(
                "INSERT INTO series (id, measurement, meter, quantity, unit, tags, transformer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._new,
            )
            self._new.clear()
        if self._shared:
            self._one_per_key(connection, out)
        rows.sort(key=_ROW_KEY)
        out.frozen.sort(key=_FROZEN_KEY)
        return out

    def _series(self, key: SeriesKey, unit: str, text: str, tags: Mapping[str, str]) -> int:
        for series, stored_unit, stored_text in self._all(key):
            if stored_unit == unit and stored_text == text:
                return series
        new = self._next_id
        self._next_id += 1
        measurement = MEASUREMENT_BY_KIND[key[2]]
        self._new.append((new, measurement, key[0], key[1], unit, text, tags.get("transformer")))
        self._undo.append(key)
        self._undo_labels.append(self._all(key) or None)
        self._add(key, (new, unit, text))
        return new

    def _add(self, key: SeriesKey, entry: Labels) -> None:
        self._set(key, (*self._all(key), entry))

    def _set(self, key: SeriesKey, entries: tuple[Labels, ...] | None) -> None:
        """The series of ``key`` are now ``entries``; only that key's ids are touched."""
        for series, _unit, _text in self._all(key):
            self._shared.pop(series, None)
        if not entries:
            self._labels.pop(key, None)
        elif len(entries) == 1:
            self._labels[key] = entries[0]
        else:
            self._labels[key] = list(entries)
        if entries and len(entries) > 1:
            for series, _unit, _text in entries:
                self._shared[series] = key

    def _all(self, key: SeriesKey) -> tuple[Labels, ...]:
        known = self._labels.get(key)
        if known is None:
            return ()
        return (known,) if isinstance(known, tuple) else tuple(known)

    def _newest(self, connection: sqlite3.Connection, series: int) -> int:
        """The newest ts_ns a shared series holds (-1: none), read once, then kept."""
        newest = self._newest_ns.get(series)
        if newest is None:
            row = connection.execute(
                "SELECT max(ts_ns) FROM points WHERE series = ?", (series,)
            ).fetchone()
            newest = self._newest_ns[series] = -1 if row[0] is None else int(row[0])
        return newest

    def _one_per_key(self, connection: sqlite3.Connection, out: PointBatch) -> None:
        """For keys with several series: the last row of a key and time wins, and a point
        another series of the key holds at that time is deleted. Only a time at or before
        that series' newest point can have one, so a meter moved to another transformer,
        read forward in time, costs no delete."""
        shared = self._shared
        winners: dict[tuple[SeriesKey, int], int] = {}
        losers: set[int] = set()
        for index, row in enumerate(out.rows):
            key = shared.get(row[0])
            if key is not None:
                earlier = winners.get((key, row[1]))
                if earlier is not None:
                    losers.add(earlier)
                winners[(key, row[1])] = index
        for (key, stamp), index in winners.items():
            owner = out.rows[index][0]
            for series, _unit, _text in self._all(key):
                if series != owner and stamp <= self._newest(connection, series):
                    out.replaced.append((series, stamp))
            newest = self._newest_ns.get(owner)
            if newest is not None and stamp > newest:
                # An upper bound if the batch rolls back: at worst a delete finds nothing.
                self._newest_ns[owner] = stamp
        if losers:
            out.rows[:] = [row for index, row in enumerate(out.rows) if index not in losers]


def tags_json(tags: Mapping[str, str]) -> str:
    """The tags column: a meter's tags are the same on every one of its rows, so the JSON text
    is made once per distinct tag set (a ``json.dumps`` per row was a visible share of a
    read's CPU). Bounded, as tags come from MQTT peers too."""
    return _tags_text(tuple(tags.items()))


@lru_cache(maxsize=1 << 17)
def _tags_text(items: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(sorted(items)), ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=4096)
def _stamp_ns(timestamp: datetime) -> int:
    """``timestamp_ns``, once per distinct time: a batch holds every meter of the same slots."""
    return timestamp_ns(timestamp)
