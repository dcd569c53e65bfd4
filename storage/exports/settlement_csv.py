"""The settlement CSV: change-log entries with the customer dimension, in local and UTC time.

One row per change-log entry (``seq`` first: the poller's cursor is the last row's ``seq``), so
it carries what a settlement clerk files by (account, asset number, customer, household,
building, transformer, from the meter archive) next to the value, its register, its CIM
ReadingType and its quality. ``day`` is the local day the freeze belongs to as billing shows it
(the local date of the freeze time). ``reading`` says what the row is: a ``daily_freeze``, or
an exchange's ``exchange_final`` / ``exchange_initial`` read (``storage.exports.exchange_log``),
``linked_meter`` the other meter of that exchange, and ``usage_point`` the billing point every
meter of an exchange chain shares; ``rule`` how an ``estimated`` value was made and between
which real freezes (``storage.exports.estimate_log``), ``kind`` the archive's kind of meter.
Text cells are neutralised against
formula injection as in the billing CSV (``storage.billing_csv.neutralise``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Final

from storage.billing_csv import neutralise
from storage.exports.change_log import ChangedReading
from storage.exports.cim_meter_readings import READING_TYPES
from storage.exports.estimate_log import BETWEEN_TAG, RULE_TAG
from storage.exports.exchange_log import LINKED_TAG, reading_of

SETTLEMENT_COLUMNS: Final = (
    "seq",
    "meter",
    "address",
    "account",
    "asset",
    "customer",
    "household",
    "building",
    "transformer",
    "multiplier",
    "quantity",
    "reading_type",
    "day",
    "timestamp_local",
    "timestamp_utc",
    "value",
    "unit",
    "quality",
    "reading",
    "usage_point",
    "linked_meter",
    "rule",
    "kind",
)


@dataclass(frozen=True, slots=True)
class Customer:
    """The customer and grid dimension of a meter ("" where nobody recorded it)."""

    address: str = ""
    account: str = ""
    asset: str = ""
    customer: str = ""
    household: str = ""
    building: str = ""
    transformer: str = ""
    multiplier: float = 1.0
    """CT x PT: the value is the register's (secondary) reading; billing multiplies."""
    usage_point: str = ""
    """The billing point across exchanges (its chain's first meter); "" = the meter itself."""
    kind: str = ""
    """The archive's kind (``household``, ``ev_pile``, ``public``, ``transformer_lv``): a
    transformer's LV meter measures the supply, it is no one's bill."""


NO_CUSTOMER: Final = Customer()


def settlement_row(row: ChangedReading, customer: Customer, tz: tzinfo) -> list[str]:
    kind = READING_TYPES.get(row.quantity)
    local = row.timestamp.astimezone(tz)
    text = [
        row.meter,
        customer.address,
        customer.account,
        customer.asset,
        customer.customer,
        customer.household or row.tags.get("household", ""),
        customer.building or row.tags.get("building", ""),
        customer.transformer or row.tags.get("transformer", ""),
    ]
    return [
        str(row.seq),
        *(neutralise(cell) for cell in text),
        repr(customer.multiplier),
        neutralise(row.quantity),
        kind.mrid if kind else "",
        local.date().isoformat(),
        local.isoformat(),
        row.timestamp.astimezone(UTC).isoformat(),
        repr(row.value),
        neutralise(row.unit),
        row.quality.value,
        *settlement_tail(row.meter, row.tags, customer),
    ]


def settlement_tail(meter: str, tags: Mapping[str, str], customer: Customer) -> list[str]:
    """The cells after ``quality`` (reading, usage_point, linked_meter, rule, kind): they
    depend on the meter, its entry's tags and its customer only, so the daily hand-off makes
    them once per meter and tags (``storage.handoff.settlement_rows``)."""
    return [
        reading_of(tags),
        neutralise(customer.usage_point or meter),
        neutralise(tags.get(LINKED_TAG, "")),
        neutralise(_estimated_by(tags)),
        neutralise(customer.kind),
    ]


def _estimated_by(tags: Mapping[str, str]) -> str:
    """The estimation rule and its anchors ("linear_interpolation between A/B"), or ""."""
    rule = tags.get(RULE_TAG, "")
    between = tags.get(BETWEEN_TAG, "")
    return f"{rule} between {between}" if rule and between else rule


def settlement_rows(
    rows: Iterable[ChangedReading], customers: Mapping[str, Customer], tz: tzinfo
) -> Iterator[list[str]]:
    """The header, then one row per entry in the order given (``seq`` order)."""
    yield list(SETTLEMENT_COLUMNS)
    for row in rows:
        yield settlement_row(row, customers.get(row.meter, NO_CUSTOMER), tz)


def settlement_csv(
    rows: Iterable[ChangedReading], customers: Mapping[str, Customer], tz: tzinfo
) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(settlement_rows(rows, customers, tz))
    return out.getvalue()
