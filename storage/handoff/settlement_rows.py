"""The settlement CSV's lines for the daily hand-off, from stored change-log entries, fast.

The bytes are exactly those of ``csv.writer`` (minimal quoting, ``\\n``) writing
``storage.exports.settlement_csv.settlement_row``'s cells (a test compares them), but a day's
entries share a handful of freeze times, five registers and one customer per meter: those
cells are computed, and CSV-encoded, once and reused, so a row costs joining a few ready pieces
with its ``seq`` and value. CSV quoting is per field, so encoding groups of fields apart and
joining them with commas gives the same line as encoding the whole row. A day of 500,000 reads
is bound by SQLite, not by time zone arithmetic or per-cell quoting. The cells after
``quality`` (reading, usage_point, linked_meter, rule, kind) hang on the meter, its tags and its
customer only: made once per meter and tags as the customer's are. A freeze of a replaced
meter's slot after its exchange is named by the new meter, as the polled export names it
(``storage.exports.exchange_log.in_service_meter``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, tzinfo
from typing import Final

from storage.archive.records import MeterExchange
from storage.billing_csv import neutralise
from storage.errors import QueryError
from storage.exports.change_log import ChangeRow
from storage.exports.cim_meter_readings import READING_TYPES
from storage.exports.exchange_log import (
    DAILY_FREEZE,
    meter_in_service,
    reading_of,
    replaced_meters,
)
from storage.exports.settlement_csv import NO_CUSTOMER, Customer, settlement_tail
from storage.line_protocol import from_ns
from storage.records import Quality

Customers = Callable[[set[str]], dict[str, Customer]]
_QUALITIES: Final = frozenset(q.value for q in Quality)
"""Quality values are plain words: written as they are, never quoted."""


def encoded(cells: Sequence[str]) -> str:
    """``cells`` as ``csv.writer`` writes them within a line (no line end)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


class SettlementRows:
    """Formats pages of entries; keeps the per-time and per-register pieces across pages, and
    the per-meter ones for one page only (memory stays bounded by the page)."""

    def __init__(
        self, customers: Customers, tz: tzinfo, exchanges: Sequence[MeterExchange] = ()
    ) -> None:
        self._customers = customers
        self._tz = tz
        self._replaced = replaced_meters(exchanges)
        self._times: dict[int, str] = {}
        self._registers: dict[tuple[str, str], tuple[str, str]] = {}

    def lines(self, entries: Sequence[ChangeRow]) -> str:
        """The CSV lines of ``entries`` (each ending in ``\\n``), in their order."""
        if self._replaced:
            entries = [self._in_service(entry) for entry in entries]
        known = self._customers({entry.meter for entry in entries})
        who_of: dict[tuple[str, str], tuple[str, str]] = {}
        registers, times_of = self._registers, self._times
        out: list[str] = []
        # Unpacked, not read by attribute: this loop runs once per read of the day.
        for seq, meter, quantity, ts_ns, value, unit, quality, tags in entries:
            pieces = who_of.get((meter, tags))
            if pieces is None:
                customer = known.get(meter, NO_CUSTOMER)
                pieces = who_of[(meter, tags)] = self._who(meter, tags, customer)
            who, tail = pieces
            register = registers.get((quantity, unit))
            if register is None:
                kind = READING_TYPES.get(quantity)
                register = (
                    encoded([neutralise(quantity), kind.mrid if kind else ""]),
                    encoded([neutralise(unit)]),
                )
                registers[(quantity, unit)] = register
            times = times_of.get(ts_ns)
            if times is None:
                times = times_of[ts_ns] = self._when(ts_ns)
            if quality not in _QUALITIES:
                raise QueryError(f"change log entry {seq}: unknown quality {quality!r}")
            out.append(
                f"{seq},{who},{register[0]},{times},{value!r},{register[1]},{quality},{tail}\n"
            )
        return "".join(out)

    def _in_service(self, entry: ChangeRow) -> ChangeRow:
        if entry.meter not in self._replaced or reading_of(_tags(entry.tags)) != DAILY_FREEZE:
            return entry
        meter = meter_in_service(entry.meter, from_ns(entry.ts_ns), self._replaced)
        return entry if meter == entry.meter else entry._replace(meter=meter)

    def _who(self, meter: str, tags_text: str, customer: Customer) -> tuple[str, str]:
        """The encoded cells from ``meter`` to ``multiplier``, and those after ``quality``."""
        household, building, transformer = (
            customer.household,
            customer.building,
            customer.transformer,
        )
        tags = _tags(tags_text)
        if not (household and building and transformer):
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
        who = encoded([*(neutralise(cell) for cell in text), repr(customer.multiplier)])
        return who, encoded(settlement_tail(meter, tags, customer))

    def _when(self, ts_ns: int) -> str:
        moment = from_ns(ts_ns)
        local = moment.astimezone(self._tz)
        return encoded(
            [local.date().isoformat(), local.isoformat(), moment.astimezone(UTC).isoformat()]
        )


def _tags(text: str) -> dict[str, str]:
    loaded = json.loads(text) if text else {}
    if not isinstance(loaded, dict):
        return {}
    return {str(key): str(value) for key, value in loaded.items()}
