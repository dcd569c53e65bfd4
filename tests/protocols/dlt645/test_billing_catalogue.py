"""The billing-grade rows of the catalogue: records that mix fields, tariff blocks up to 63,
settlement periods, event records, ASCII, each row with its source; and replies over 200 data
bytes read with L as sent.

No published frame of these identifiers was found (docs/dlt645.md, *Sources*): the payloads
below are written from the formats the cited tables give, field by field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import datetime
from importlib import resources

import pytest

from protocols.dlt645 import (
    Address,
    CatalogueError,
    NotAvailable,
    ReadResponse,
    Standard,
    UnknownIdentifier,
    catalogue,
    decode_value,
    encode,
    encode_value,
)
from protocols.dlt645.catalogue import load_catalogue
from protocols.dlt645.exchange import Payload, ReadExchange

METER = Address.parse("000000000161")


def test_demand_is_a_value_and_its_time() -> None:
    # XX.XXXX = 12.3456 kW (56 34 12), then YYMMDDhhmm low byte first: 15:30 on 2026-11-22
    demand = decode_value(0x01010000, bytes.fromhex("563412 3015221126"))
    assert demand == {
        "demand_active_import_total": pytest.approx(12.3456),
        "demand_active_import_total_time": datetime(2026, 11, 22, 15, 30),  # noqa: DTZ001
    }
    assert (
        catalogue()
        .by_name("demand_active_import_total")
        .part_of("demand_active_import_total_time")
        .unit
        == ""
    )
    assert encode_value(0x01010000, demand) == bytes.fromhex("563412 3015221126")


def test_a_demand_block_of_a_meter_with_two_tariffs() -> None:
    block = decode_value(0x0101FF00, bytes.fromhex("010000 0000010126" * 3))
    assert isinstance(block, Mapping)
    assert list(block) == [
        "demand_active_import_total",
        "demand_active_import_total_time",
        "demand_active_import_t1",
        "demand_active_import_t1_time",
        "demand_active_import_t2",
        "demand_active_import_t2_time",
    ]
    assert block["demand_active_import_t2"] == pytest.approx(0.0001)


def test_tariffs_up_to_63_each_an_item_of_its_own() -> None:
    table = catalogue()
    assert table.lookup(0x00013F00).name == "energy_active_import_t63"
    assert table.lookup(0x00023F00).name == "energy_active_export_t63"
    with pytest.raises(UnknownIdentifier, match="00014000"):
        table.lookup(0x00014000)
    block = table.by_name("energy_active_import")
    assert len(block.members) == 64
    eight = decode_value(0x0001FF00, bytes.fromhex("00010000" * 9))
    assert isinstance(eight, Mapping)
    assert list(eight)[-1] == "energy_active_import_t8"


def test_settlement_periods_select_the_period_with_the_last_byte() -> None:
    table = catalogue()
    block = table.by_name("settlement_energy_active_import")
    assert block.di_for(12) == 0x0001FF0C
    assert table.lookup(0x0001FF0C) is block
    assert table.lookup(0x00010205).name == "settlement_energy_active_import_t2"
    assert table.lookup(0x0003FF03).name == "settlement_energy_reactive_1"
    with pytest.raises(UnknownIdentifier):
        table.lookup(0x0001FF0D)
    assert decode_value(0x0003FF02, bytes.fromhex("00010080")) == {
        "settlement_energy_reactive_1_total": -1.0  # reactive energy is signed
    }


def test_settlement_day_is_day_and_hour() -> None:
    assert decode_value(0x04000B01, bytes.fromhex("00 01")) == {
        "settlement_day_hour": 0,
        "settlement_day": 1,
    }


@pytest.mark.parametrize(
    ("name", "length"),
    [
        ("loss_of_voltage_a", 131),
        ("meter_clear", 106),
        ("cover_open", 60),
        ("programming", 50),
        ("event_clear", 14),
        ("power_outage_last", 12),
        ("demand_active_import_total", 8),
        ("asset_number", 32),
    ],
)
def test_record_lengths_are_the_cited_layouts(name: str, length: int) -> None:
    assert catalogue().by_name(name).length == length


def test_an_event_record_decodes_its_start_end_and_energies() -> None:
    start = "003000221126"  # 2026-11-22 00:30:00, seconds first
    end = "591501221126"  # 2026-11-22 01:15:59
    energies = "00010000" * 12
    record = decode_value(0x03300D01, bytes.fromhex(start + end + energies))
    assert isinstance(record, Mapping)
    assert record["cover_open_start"] == datetime(2026, 11, 22, 0, 30)  # noqa: DTZ001
    assert record["cover_open_end"] == datetime(2026, 11, 22, 1, 15, 59)  # noqa: DTZ001
    assert record["cover_open_import_before"] == 1.0
    assert record["cover_open_q4_after"] == 1.0
    assert catalogue().by_name("cover_open").part_of("cover_open_q4_after").unit == "kvarh"


def test_asset_number_is_ascii() -> None:
    payload = encode_value(0x04000403, "ASSET-0042")
    assert len(payload) == 32
    assert decode_value(0x04000403, payload) == "ASSET-0042"
    unreadable = decode_value(0x04000403, bytes(31) + b"\x07")
    assert isinstance(unreadable, NotAvailable)
    assert "ASCII" in unreadable.reason


def test_1997_reactive_last_month_and_demand() -> None:
    table = catalogue(Standard.DLT645_1997)
    assert table.lookup(0x9110).name == "energy_reactive_1_total"
    assert table.lookup(0x941F).members[0] == "settlement_energy_active_import_total"
    assert decode_value(0xA010, bytes.fromhex("563412"), Standard.DLT645_1997) == pytest.approx(
        12.3456
    )


def test_every_row_names_a_source_of_the_sources_table() -> None:
    text = resources.files("protocols.dlt645").joinpath("catalogue.toml").read_text("utf-8")
    document = tomllib.loads(text)
    sources = document["sources"]
    for table in ("dlt645_2007", "dlt645_1997"):
        for row in document[table]:
            assert row.get("source") in sources, row["di"]


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        (
            '{ di = "01010000", name = "x", unit = "", kind = "state", '
            'fields = [{ suffix = "", formt = "XX" }] }',
            "fields[0]: unknown keys ['formt']",
        ),
        (
            '{ di = "01010000", name = "x", unit = "", kind = "state", format = "XX", '
            'fields = [{ format = "XX" }] }',
            "key 'format'",
        ),
        (
            '{ di = "01010000", name = "x", unit = "", kind = "state", '
            'fields = [{ format = "XX" }, { format = "ZZ" }] }',
            "fields[1].format",
        ),
        (
            '{ di = "0001FF00", name = "x", format = "XX", unit = "", kind = "state", '
            "tariffs = 64 }",
            "'tariffs' must be 1..63",
        ),
        (
            '{ di = "0001FF00", name = "x", format = "XX", unit = "", kind = "state", '
            'tariffs = 2, members = ["a"] }',
            "'tariffs'",
        ),
    ],
)
def test_record_and_tariff_errors_name_file_row_and_key(row: str, complaint: str) -> None:
    text = f"dlt645_2007 = [\n  {row},\n]\n"
    with pytest.raises(CatalogueError, match=r"mine\.toml: dlt645_2007\[0\]") as caught:
        load_catalogue(text, Standard.DLT645_2007, source="mine.toml")
    assert complaint in str(caught.value)


def test_a_tariff_item_listed_under_another_name_is_refused() -> None:
    rows = (
        '{ di = "0001FF00", name = "e", format = "XX", unit = "", kind = "state", tariffs = 2 },'
        '{ di = "00010100", name = "other", format = "XX", unit = "", kind = "state" }'
    )
    with pytest.raises(CatalogueError, match="00010100 is 'other'"):
        load_catalogue(f"dlt645_2007 = [{rows}]", Standard.DLT645_2007, "mine.toml")


def test_a_reply_over_200_data_bytes_is_read_with_l_as_sent() -> None:
    item = catalogue().by_name("demand_active_import")
    values = {
        name: (1.5 if not name.endswith("_time") else datetime(2026, 11, 22, 15, 30))  # noqa: DTZ001
        for name in item.value_names()[: 2 * 29]
    }
    payload = item.encode(values, complete=False)  # 29 records of 8 bytes: 232 + 4 DI bytes
    frame = ReadResponse(METER, item.di, payload, long=True).to_frame()
    assert len(frame.data) == 236
    wire = encode(frame)
    for chunks in ([wire], [wire[:100], wire[100:]], [wire[i : i + 1] for i in range(len(wire))]):
        machine = ReadExchange(METER, item.di)
        machine.send()
        event = None
        for chunk in chunks:
            machine.receive_data(chunk)
            event = machine.next_event()
        assert isinstance(event, Payload), event
        assert event.data == payload
    assert item.decode(payload) == values
