"""Meter exchanges (换表) in the change log: the crew's reads as entries a billing system polls.

Why: a billing system bills a usage point across an exchange as old-final - old-start +
new-end - new-initial. The export gave it old-start and new-end (the two meters' freezes) but
not the two reads in the middle, nor that the two meters are one point, so from the export
alone the exchange month was either the raw drop or two unrelated meters. Here each register
the crew read becomes a change-log entry, stamped with the exchange instant and tagged
``reading = exchange_final`` (old meter) or ``exchange_initial`` (new meter) and the other
meter's id; ``usage_point`` names the chain's first meter for every meter of the chain.

The archive is another file, changed by ``headend archive exchange`` in another process, so the
entries are logged when the export is polled (``log_exchange_reads``, before the page is read):
idempotent (an entry is added only when the same key, reading and value is not logged yet), and
a poller that saw ``seq`` N sees an exchange recorded after that at a higher ``seq``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any, Final, Protocol, runtime_checkable

from storage.archive.records import TOTAL_IMPORT, MeterExchange
from storage.exports.change_log import ChangedReading
from storage.line_protocol import timestamp_ns
from storage.records import Quality

READING_TAG: Final = "reading"
"""The tag that says what an entry is; absent on a freeze."""
LINKED_TAG: Final = "exchanged_with"
"""The other meter of the exchange."""
DAILY_FREEZE: Final = "daily_freeze"
EXCHANGE_FINAL: Final = "exchange_final"
"""The old meter's register when it came out."""
EXCHANGE_INITIAL: Final = "exchange_initial"
"""The new meter's register when it went in."""
EXCHANGE_UNIT: Final = "kWh"

_LOG_IF_NEW: Final = """
INSERT INTO change_log (meter, quantity, ts_ns, value, unit, quality, tags)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
WHERE NOT EXISTS (
    SELECT 1 FROM change_log
    WHERE meter = ?1 AND quantity = ?2 AND ts_ns = ?3 AND tags = ?7 AND value = ?4
)
"""


@runtime_checkable
class ExchangeLog(Protocol):
    """A store whose change log takes exchange reads and estimates (the embedded store)."""

    async def log_exchange_reads(self, exchanges: Sequence[MeterExchange]) -> int:
        """Log the reads of these exchanges not logged yet; returns how many were added."""

    async def log_estimates(self, tz: tzinfo, exchanges: Sequence[MeterExchange]) -> int:
        """Log the lost freezes next to the newly logged ones, estimated and flagged."""


def reading_of(tags: Mapping[str, str]) -> str:
    """What a change-log entry is: ``daily_freeze`` or one of the exchange reads."""
    return tags.get(READING_TAG, DAILY_FREEZE)


def exchange_entries(exchanges: Iterable[MeterExchange]) -> list[tuple[Any, ...]]:
    """Change-log rows (meter, quantity, ts_ns, value, unit, quality, tags) of the crew's reads,
    old meter's first, the total then the other registers by name."""
    rows: list[tuple[Any, ...]] = []
    for exchange in exchanges:
        stamp = timestamp_ns(exchange.at)
        sides = (
            (exchange.old_meter, exchange.old_final, EXCHANGE_FINAL, exchange.new_meter),
            (exchange.new_meter, exchange.new_initial, EXCHANGE_INITIAL, exchange.old_meter),
        )
        for meter, reads, reading, linked in sides:
            tags = json.dumps({READING_TAG: reading, LINKED_TAG: linked}, sort_keys=True)
            for quantity in sorted(reads, key=lambda name: (name != TOTAL_IMPORT, name)):
                value = float(reads[quantity])
                quality = Quality.ACTUAL.value
                rows.append((meter, quantity, stamp, value, EXCHANGE_UNIT, quality, tags))
    return rows


def log_exchange_reads(connection: sqlite3.Connection, exchanges: Iterable[MeterExchange]) -> int:
    """Log the exchange reads not logged yet, in one transaction; returns how many were added."""
    rows = exchange_entries(exchanges)
    if not rows:
        return 0
    with connection:
        connection.execute("BEGIN")
        before = connection.total_changes
        connection.executemany(_LOG_IF_NEW, rows)
        return connection.total_changes - before


def in_service_meter(
    rows: Iterable[ChangedReading], exchanges: Sequence[MeterExchange]
) -> list[ChangedReading]:
    """The rows with each freeze named by the meter whose register it is: a freeze stamped
    after its meter's exchange instant is the new meter's (a concentrator's measurement point
    or a bus slot keeps the id it was configured with, and reads the new meter through it).

    Without this the export showed the new register under the old meter's id, a register that
    fell from thousands to a few kWh, which a billing system can only take as a fault.
    """
    replaced = replaced_meters(exchanges)
    out = []
    for row in rows:
        meter = row.meter
        if reading_of(row.tags) == DAILY_FREEZE:
            meter = meter_in_service(row.meter, row.timestamp, replaced)
        out.append(row if meter == row.meter else replace(row, meter=meter))
    return out


def replaced_meters(exchanges: Iterable[MeterExchange]) -> dict[str, MeterExchange]:
    """Each replaced meter's exchange, by its id (``meter_in_service``'s lookup)."""
    return {exchange.old_meter: exchange for exchange in exchanges}


def meter_in_service(meter: str, moment: datetime, replaced: Mapping[str, MeterExchange]) -> str:
    """The meter whose register a freeze of ``meter``'s slot at ``moment`` is: past each
    exchange of the chain, its new meter."""
    seen = {meter}
    while meter in replaced and replaced[meter].at < moment:
        meter = replaced[meter].new_meter
        if meter in seen:
            break  # a loop: the archive refuses one, the export does not spin
        seen.add(meter)
    return meter


def usage_points(exchanges: Iterable[MeterExchange]) -> dict[str, str]:
    """Every exchanged meter -> the first meter of its chain: the billing point's stable id,
    the same before and after any number of exchanges. A loop (refused by the archive) stops at
    the meter where it closes."""
    previous = {exchange.new_meter: exchange.old_meter for exchange in exchanges}
    meters = set(previous) | set(previous.values())
    out: dict[str, str] = {}
    for meter in meters:
        current, seen = meter, {meter}
        while current in previous and previous[current] not in seen:
            current = previous[current]
            seen.add(current)
        out[meter] = current
    return out
