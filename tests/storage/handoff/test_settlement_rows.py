"""The hand-off's fast settlement lines are byte for byte ``csv.writer`` writing the polled
export's cells (``settlement_row``): customer or tag dimension (quoted where it must be),
register, times, value, unit, quality, and what follows (reading, usage point, linked meter,
estimation rule, kind)."""

from __future__ import annotations

import csv
import io
import json
from zoneinfo import ZoneInfo

import pytest

from storage.archive.records import MeterExchange
from storage.errors import QueryError
from storage.exports.change_log import ChangeRow, parsed
from storage.exports.exchange_log import in_service_meter
from storage.exports.settlement_csv import (
    NO_CUSTOMER,
    SETTLEMENT_COLUMNS,
    Customer,
    settlement_row,
)
from storage.handoff.settlement_rows import SettlementRows
from storage.line_protocol import from_ns

TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT_NS = 1_784_304_000_000_000_000  # 2026-07-17T16:00:00Z: 00:00 on the 18th in Shanghai
CUSTOMERS = {
    "m1": Customer("000000000001", "4400012345", "ZC-1", "=cmd()", 'H "1", a', "B1", "T1", 40.0),
    "m2": Customer(address="000000000002", account="4400099999"),
}
ENTRIES = [
    ChangeRow(7, "m1", "energy_active_import_total", MIDNIGHT_NS, 1234.5, "kWh", "actual", "{}"),
    ChangeRow(8, "m1", "energy_active_import_t1", MIDNIGHT_NS, 185.25, "kWh", "estimated", "{}"),
    ChangeRow(
        9,
        "m2",
        "energy_active_import_total",
        MIDNIGHT_NS + 5_000_000_000,
        99.0,
        "kWh",
        "backfilled",
        json.dumps({"household": "H2", "transformer": "T9"}),
    ),
    ChangeRow(10, "m3", "voltage_a", MIDNIGHT_NS, 230.0, "V", "actual", "{}"),
]


def test_the_rows_are_the_exports_rows() -> None:
    formatter = SettlementRows(
        lambda meters: {m: CUSTOMERS[m] for m in meters if m in CUSTOMERS}, TZ
    )
    fast = formatter.lines(ENTRIES)
    slow = io.StringIO()
    csv.writer(slow, lineterminator="\n").writerows(
        settlement_row(parsed(entry), CUSTOMERS.get(entry.meter, NO_CUSTOMER), TZ)
        for entry in ENTRIES
    )
    assert fast == slow.getvalue()
    rows = list(csv.reader(io.StringIO(fast)))
    assert rows[0][5] == "'=cmd()"  # neutralised, as in the export
    assert rows[2][6:9] == ["H2", "", "T9"]  # the tags where the archive and fleet say nothing
    assert rows[2][13] == "2026-07-18T00:00:05+08:00"


def test_an_unknown_quality_is_refused_naming_the_entry() -> None:
    formatter = SettlementRows(lambda meters: {}, TZ)
    bad = ENTRIES[0]._replace(quality="guessed")
    with pytest.raises(QueryError, match="entry 7"):
        formatter.lines([bad])


def test_exchange_reads_estimates_and_a_replaced_meter_are_the_exports_rows() -> None:
    """The columns after ``quality`` (reading, usage_point, linked_meter, rule, kind) as the
    export has them, and a freeze after an exchange under the new meter's id."""
    exchange = MeterExchange(
        "m1",
        "m1b",
        from_ns(MIDNIGHT_NS - 3_600_000_000_000),
        {"energy_active_import_total": 1230.0},
        {"energy_active_import_total": 0.5},
    )
    customers = {
        "m1": Customer(account="4400012345", usage_point="m1", kind="household"),
        "m1b": Customer(account="4400012345", usage_point="m1", kind="household"),
        "lv": Customer(kind="transformer_lv"),
    }
    final = json.dumps({"reading": "exchange_final", "exchanged_with": "m1b"})
    estimate = json.dumps({"rule": "linear_interpolation", "between": "A/B"})
    entries = [
        ChangeRow(1, "m1", "energy_active_import_total", MIDNIGHT_NS - 3_600_000_000_000,
                  1230.0, "kWh", "actual", final),
        ChangeRow(2, "m1", "energy_active_import_total", MIDNIGHT_NS, 3.25, "kWh", "actual", "{}"),
        ChangeRow(3, "lv", "energy_active_import_total", MIDNIGHT_NS, 77.5, "kWh", "estimated",
                  estimate),
    ]  # fmt: skip
    formatter = SettlementRows(
        lambda meters: {m: customers[m] for m in meters if m in customers}, TZ, [exchange]
    )
    fast = formatter.lines(entries)
    slow = io.StringIO()
    csv.writer(slow, lineterminator="\n").writerows(
        settlement_row(row, customers.get(row.meter, NO_CUSTOMER), TZ)
        for row in in_service_meter([parsed(entry) for entry in entries], [exchange])
    )
    assert fast == slow.getvalue()
    lines = csv.reader(io.StringIO(fast))
    rows = [dict(zip(SETTLEMENT_COLUMNS, row, strict=True)) for row in lines]
    assert [row["meter"] for row in rows] == ["m1", "m1b", "lv"]
    assert (rows[0]["reading"], rows[0]["linked_meter"]) == ("exchange_final", "m1b")
    assert (rows[1]["reading"], rows[1]["usage_point"]) == ("daily_freeze", "m1")
    assert rows[2]["rule"] == "linear_interpolation between A/B"
    assert rows[2]["kind"] == "transformer_lv"
