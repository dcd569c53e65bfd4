"""The settlement CSV: the customer dimension, local and UTC time, safe cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from storage.exports.change_log import ChangedReading
from storage.exports.settlement_csv import SETTLEMENT_COLUMNS, Customer, settlement_csv
from storage.records import Quality

TZ = ZoneInfo("Asia/Shanghai")


def test_rows_carry_the_customer_and_both_times() -> None:
    rows = [
        ChangedReading(
            3,
            "m1",
            "energy_active_import_t1",
            datetime(2026, 7, 17, 16, 0, tzinfo=UTC),
            12.5,
            "kWh",
            Quality.BACKFILLED,
            {"building": "B2"},
        ),
        ChangedReading(
            4,
            "m2",
            "energy_active_import_total",
            datetime(2026, 7, 17, 16, 0, tzinfo=UTC),
            1.0,
            "kWh",
            Quality.ACTUAL,
        ),
    ]
    customers = {
        "m1": Customer(
            address="000000000001",
            account="4400012345",
            asset="ZC-0001",
            customer='=HYPERLINK("x")',
            transformer="T1",
            multiplier=40.0,
        )
    }
    table = list(csv.DictReader(io.StringIO(settlement_csv(rows, customers, TZ))))
    assert list(table[0]) == list(SETTLEMENT_COLUMNS)
    first = table[0]
    assert (first["seq"], first["account"], first["asset"], first["transformer"]) == (
        "3",
        "4400012345",
        "ZC-0001",
        "T1",
    )
    assert first["customer"] == '\'=HYPERLINK("x")'  # never a formula in a spreadsheet
    assert first["building"] == "B2"  # the reading's tag where the archive has none
    assert first["multiplier"] == "40.0"
    assert first["day"] == "2026-07-18"
    assert first["timestamp_local"] == "2026-07-18T00:00:00+08:00"
    assert first["timestamp_utc"] == "2026-07-17T16:00:00+00:00"
    assert first["reading_type"] == "11.0.0.1.1.1.12.0.0.0.0.1.0.0.0.3.72.0"
    assert (first["value"], first["quality"]) == ("12.5", "backfilled")
    assert (table[1]["meter"], table[1]["account"], table[1]["multiplier"]) == ("m2", "", "1.0")


def test_the_kind_says_which_meter_is_the_supply_and_nobodys_bill() -> None:
    at = datetime(2026, 7, 17, 16, 0, tzinfo=UTC)
    rows = [
        ChangedReading(1, "T1-LV", "energy_active_import_total", at, 9.0, "kWh", Quality.ACTUAL),
        ChangedReading(2, "m1", "energy_active_import_total", at, 1.0, "kWh", Quality.ACTUAL),
        ChangedReading(3, "m9", "energy_active_import_total", at, 1.0, "kWh", Quality.ACTUAL),
    ]
    customers = {
        "T1-LV": Customer(kind="transformer_lv", multiplier=40.0),
        "m1": Customer(kind="household"),
    }
    table = list(csv.DictReader(io.StringIO(settlement_csv(rows, customers, TZ))))
    assert [(r["meter"], r["kind"], r["usage_point"]) for r in table] == [
        ("T1-LV", "transformer_lv", "T1-LV"),
        ("m1", "household", "m1"),
        ("m9", "", "m9"),  # not in the archive: unknown, not guessed
    ]
