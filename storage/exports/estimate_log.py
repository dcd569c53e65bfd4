"""Estimates of lost freezes in the change log, flagged, so billing never meets a silent gap.

Why: a freeze the meter or the concentrator lost (``missing_frozen``) was simply absent from
the export; a billing system either billed across it without knowing or had to estimate it
itself, differently from the head-end's own VEE. Here a freeze missing between two real ones of
the same meter and register is logged as ``estimated``, linear in time between them (the rule
``storage.vee.estimate`` applies, ``LINEAR``), with ``rule`` and ``between`` tags, so the two
days around it add up to what the meter measured. If the real value arrives later (a re-read),
it is logged as a new entry with a higher ``seq``: the poller keeps the last entry of a key.

Never estimated: across a meter exchange of that meter (two registers), across a register that
went down, or a gap wider than ``MAX_GAP_DAYS`` (not a lost day: a meter not read for weeks).

Work is proportional to what is new: each pass (run when the export is polled) looks at the
real freezes logged since the last pass (``estimate_watermark``) and their nearest real
neighbours before and after, by the points table's key, in steps of ``CHUNK_ENTRIES`` so the
writer is never held long (about 48 µs an entry: 100,000 freezes in 4.9 s, in 11 steps).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Final

from storage.archive.records import MeterExchange
from storage.exports.change_log import LOGGED_MEASUREMENT, log_rows
from storage.line_protocol import from_ns, timestamp_ns
from storage.records import Quality
from storage.vee.estimate import LINEAR

MAX_GAP_DAYS: Final = 31
"""Widest gap estimated: a concentrator keeps a month; beyond that the meter was not read."""
CHUNK_ENTRIES: Final = 10_000
"""Change-log entries one step looks at: its transaction holds the store's one writer (about
0.5 s for 10,000 on a shared 2-core machine), so collection's writes wait no longer."""
RULE_TAG: Final = "rule"
BETWEEN_TAG: Final = "between"
_DAY_NS: Final = 86_400 * 10**9
_REAL: Final = (Quality.ACTUAL.value, Quality.BACKFILLED.value)

WATERMARK_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS estimate_watermark (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
"""
_NEW_FREEZES: Final = """
SELECT DISTINCT meter, quantity, ts_ns FROM change_log
WHERE seq > ? AND seq <= ? AND quality IN (?, ?) AND json_extract(tags, '$.reading') IS NULL
"""
_NEIGHBOUR: Final = """
SELECT ts_ns, value, unit, tags FROM points
WHERE measurement = ? AND meter = ? AND quantity = ? AND ts_ns {op} ? AND ts_ns {bound} ?
  AND value IS NOT NULL AND quality IN (?, ?)
ORDER BY ts_ns {order} LIMIT 1
"""
_BEFORE: Final = _NEIGHBOUR.format(op="<", bound=">=", order="DESC")
_AFTER: Final = _NEIGHBOUR.format(op=">", bound="<=", order="ASC")
_Anchor = tuple[int, float, str, str]
"""ts_ns, value, unit, tags text of a real freeze."""


def freezes_between(start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """The local midnights strictly between two freeze instants (the freezes that are lost)."""
    day = start.astimezone(tz).date() + timedelta(days=1)
    out: list[datetime] = []
    while True:
        instant = datetime.combine(day, time(), tz)
        if instant >= end:
            return out
        if instant > start:
            out.append(instant)
        day += timedelta(days=1)


def gap_estimates(
    meter: str,
    quantity: str,
    before: _Anchor,
    after: _Anchor,
    tz: tzinfo,
    exchanges: Sequence[MeterExchange],
) -> list[tuple[Any, ...]]:
    """Change-log rows (meter, quantity, ts_ns, value, unit, quality, tags) estimating the
    freezes lost between two real ones; none when the gap must not be bridged."""
    (t0_ns, v0, unit, tags_text), (t1_ns, v1, _, _) = before, after
    t0, t1 = from_ns(t0_ns), from_ns(t1_ns)
    if v1 < v0 or t1 - t0 > timedelta(days=MAX_GAP_DAYS):
        return []
    for exchange in exchanges:
        if meter in (exchange.old_meter, exchange.new_meter) and t0 < exchange.at < t1:
            return []
    tags = json.loads(tags_text) if tags_text else {}
    if not isinstance(tags, dict):
        tags = {}
    between = f"{t0.astimezone(tz).isoformat()}/{t1.astimezone(tz).isoformat()}"
    tags.update({RULE_TAG: LINEAR, BETWEEN_TAG: between})
    text = json.dumps(tags, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    rows: list[tuple[Any, ...]] = []
    for instant in freezes_between(t0, t1, tz):
        value = v0 + (v1 - v0) * ((instant - t0) / (t1 - t0))
        stamp = timestamp_ns(instant)
        rows.append((meter, quantity, stamp, value, unit, Quality.ESTIMATED.value, text))
    return rows


def log_estimates(
    connection: sqlite3.Connection,
    tz: tzinfo,
    exchanges: Sequence[MeterExchange],
    chunk: int = CHUNK_ENTRIES,
) -> tuple[int, bool]:
    """One step of a pass over the real freezes logged since the last: the next ``chunk``
    change-log entries' lost neighbours estimated, in one transaction with the new watermark
    (``WATERMARK_SCHEMA`` must exist: the embedded store creates it at open). Returns how many
    entries were added and whether entries are left for another step."""
    with connection:
        connection.execute("BEGIN")
        found = connection.execute("SELECT seq FROM estimate_watermark WHERE id = 1").fetchone()
        since = 0 if found is None else int(found[0])
        top = connection.execute("SELECT COALESCE(MAX(seq), 0) FROM change_log").fetchone()[0]
        upto = min(int(top), since + chunk)
        fresh = connection.execute(_NEW_FREEZES, (since, upto, *_REAL)).fetchall()
        reach = MAX_GAP_DAYS * _DAY_NS
        estimates: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        for meter, quantity, ts_ns in fresh:
            anchor = _anchor(connection, meter, quantity, ts_ns)
            if anchor is None:
                continue  # replaced since (not a real value any more)
            key = (LOGGED_MEASUREMENT, meter, quantity)
            before = connection.execute(_BEFORE, (*key, ts_ns, ts_ns - reach, *_REAL)).fetchone()
            after = connection.execute(_AFTER, (*key, ts_ns, ts_ns + reach, *_REAL)).fetchone()
            pairs = [(tuple(before), anchor)] if before else []
            pairs += [(anchor, tuple(after))] if after else []
            for first, last in pairs:
                for row in gap_estimates(meter, quantity, first, last, tz, exchanges):
                    estimates[(row[0], row[1], row[2])] = row
        added = log_rows(connection, sorted(estimates.values(), key=lambda r: (r[2], r[0], r[1])))
        connection.execute(
            "INSERT INTO estimate_watermark (id, seq) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
            (upto,),
        )
    return added, upto < int(top)


def _anchor(connection: sqlite3.Connection, meter: str, quantity: str, ts_ns: int) -> Any:
    return connection.execute(
        "SELECT ts_ns, value, unit, tags FROM points WHERE measurement = ? AND meter = ? "
        "AND quantity = ? AND ts_ns = ? AND value IS NOT NULL AND quality IN (?, ?)",
        (LOGGED_MEASUREMENT, meter, quantity, ts_ns, *_REAL),
    ).fetchone()
