"""The settlement CSV's rows for the daily hand-off, from stored change-log entries, fast.

The cells are exactly ``storage.exports.settlement_csv.settlement_row``'s (a test compares
them), but a day's entries share a handful of freeze times, five registers and one customer
per meter, so those cells are computed once and reused instead of once per row: a day of
500,000 reads is bound by SQLite and the csv module, not by time zone arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, tzinfo
from typing import Final

from storage.billing_csv import neutralise
from storage.errors import QueryError
from storage.exports.change_log import ChangeRow
from storage.exports.cim_meter_readings import READING_TYPES
from storage.exports.settlement_csv import NO_CUSTOMER, Customer
from storage.line_protocol import from_ns
from storage.records import Quality

Customers = Callable[[set[str]], dict[str, Customer]]
_QUALITIES: Final = frozenset(q.value for q in Quality)
_FALLBACK_TAGS: Final = ("household", "building", "transformer")


class SettlementRows:
    """Formats pages of entries; keeps the per-time and per-register cells across pages, and
    the per-meter ones for one page only (memory stays bounded by the page)."""

    def __init__(self, customers: Customers, tz: tzinfo) -> None:
        self._customers = customers
        self._tz = tz
        self._times: dict[int, tuple[str, str, str]] = {}
        self._registers: dict[tuple[str, str], tuple[str, str, str]] = {}

    def rows(self, entries: Sequence[ChangeRow]) -> Iterator[list[str]]:
        known = self._customers({entry.meter for entry in entries})
        cells: dict[tuple[str, str], list[str]] = {}
        registers, times_of = self._registers, self._times
        # Unpacked, not read by attribute: this loop runs once per read of the day.
        for seq, meter, quantity, ts_ns, value, unit, quality, tags in entries:
            who = cells.get((meter, tags))
            if who is None:
                who = cells[(meter, tags)] = self._who(meter, tags, known.get(meter, NO_CUSTOMER))
            register = registers.get((quantity, unit))
            if register is None:
                kind = READING_TYPES.get(quantity)
                register = (neutralise(quantity), kind.mrid if kind else "", neutralise(unit))
                registers[(quantity, unit)] = register
            times = times_of.get(ts_ns)
            if times is None:
                times = times_of[ts_ns] = self._when(ts_ns)
            if quality not in _QUALITIES:
                raise QueryError(f"change log entry {seq}: unknown quality {quality!r}")
            yield [
                str(seq),
                *who,
                register[0],
                register[1],
                *times,
                repr(value),
                register[2],
                quality,
            ]

    def _who(self, meter: str, tags_text: str, customer: Customer) -> list[str]:
        household, building, transformer = (
            customer.household,
            customer.building,
            customer.transformer,
        )
        if not (household and building and transformer):
            tags = _tags(tags_text)
            household = household or tags.get("household", "")
            building = building or tags.get("building", "")
            transformer = transformer or tags.get("transformer", "")
        text = [
            meter,
            customer.address,
            customer.account,
            customer.asset,
            customer.customer,
            household,
            building,
            transformer,
        ]
        return [*(neutralise(cell) for cell in text), repr(customer.multiplier)]

    def _when(self, ts_ns: int) -> tuple[str, str, str]:
        moment = from_ns(ts_ns)
        local = moment.astimezone(self._tz)
        return local.date().isoformat(), local.isoformat(), moment.astimezone(UTC).isoformat()


def _tags(text: str) -> dict[str, str]:
    loaded = json.loads(text) if text else {}
    if not isinstance(loaded, dict):
        return {}
    return {key: str(value) for key, value in loaded.items() if key in _FALLBACK_TAGS}
