"""The settlement CSV's lines for the daily hand-off, from stored change-log entries, fast.

The bytes are exactly those of ``csv.writer`` (minimal quoting, ``\\n``) writing
``storage.exports.settlement_csv.settlement_row``'s cells (a test compares them), but a day's
entries share a handful of freeze times, five registers and one customer per meter: those
cells are computed, and CSV-encoded, once and reused, so a row costs joining a few ready pieces
with its ``seq`` and value. CSV quoting is per field, so encoding groups of fields apart and
joining them with commas gives the same line as encoding the whole row. A day of 500,000 reads
is bound by SQLite, not by time zone arithmetic or per-cell quoting.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
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
"""Quality values are plain words: written as they are, never quoted."""
_FALLBACK_TAGS: Final = ("household", "building", "transformer")


def encoded(cells: Sequence[str]) -> str:
    """``cells`` as ``csv.writer`` writes them within a line (no line end)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


class SettlementRows:
    """Formats pages of entries; keeps the per-time and per-register pieces across pages, and
    the per-meter ones for one page only (memory stays bounded by the page)."""

    def __init__(self, customers: Customers, tz: tzinfo) -> None:
        self._customers = customers
        self._tz = tz
        self._times: dict[int, str] = {}
        self._registers: dict[tuple[str, str], tuple[str, str]] = {}

    def lines(self, entries: Sequence[ChangeRow]) -> str:
        """The CSV lines of ``entries`` (each ending in ``\\n``), in their order."""
        known = self._customers({entry.meter for entry in entries})
        who_of: dict[tuple[str, str], str] = {}
        registers, times_of = self._registers, self._times
        out: list[str] = []
        # Unpacked, not read by attribute: this loop runs once per read of the day.
        for seq, meter, quantity, ts_ns, value, unit, quality, tags in entries:
            who = who_of.get((meter, tags))
            if who is None:
                customer = known.get(meter, NO_CUSTOMER)
                who = who_of[(meter, tags)] = self._who(meter, tags, customer)
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
            out.append(f"{seq},{who},{register[0]},{times},{value!r},{register[1]},{quality}\n")
        return "".join(out)

    def _who(self, meter: str, tags_text: str, customer: Customer) -> str:
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
        return encoded([*(neutralise(cell) for cell in text), repr(customer.multiplier)])

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
    return {key: str(value) for key, value in loaded.items() if key in _FALLBACK_TAGS}
