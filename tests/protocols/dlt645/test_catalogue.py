"""The data-identifier catalogue and value formats: decode, encode, NotAvailable, blocks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import (
    CatalogueError,
    EncodeError,
    NotAvailable,
    Standard,
    UnexpectedMessage,
    UnknownIdentifier,
    catalogue,
    decode_value,
    encode_value,
)
from protocols.dlt645.catalogue import load_catalogue
from protocols.dlt645.values import Encoding, ValueFormat
from protocols.kinds import KINDS
from storage.records import ReadingKind

V1997 = Standard.DLT645_1997
PROJECT_NAMES_2007 = {
    0x00000000: "energy_active_combined_total",
    0x00010000: "energy_active_import_total",
    0x00010100: "energy_active_import_t1",
    0x00010400: "energy_active_import_t4",
    0x00020000: "energy_active_export_total",
    0x00030000: "energy_reactive_1_total",
    0x00040000: "energy_reactive_2_total",
    0x02010100: "voltage_a",
    0x02020300: "current_c",
    0x02030000: "power_active_total",
    0x02040200: "power_reactive_b",
    0x02060000: "power_factor_total",
    0x02800002: "frequency",
    0x04000101: "date",
    0x04000102: "time",
    0x04000401: "meter_address",
    0x04000501: "meter_status_1",
    0x04000503: "meter_status_3",
    0x03110000: "power_outage_count",
    0x05060001: "frozen_time",
    0x05060101: "frozen_energy_active_import",
}


@pytest.mark.parametrize(("di", "name"), PROJECT_NAMES_2007.items())
def test_2007_identifiers_carry_project_quantity_names(di: int, name: str) -> None:
    assert catalogue().lookup(di).name == name
    assert catalogue().by_name(name).di == di


@pytest.mark.parametrize(
    ("di", "name"),
    [
        (0x9010, "energy_active_import_total"),
        (0xB611, "voltage_a"),
        (0xB621, "current_a"),
        (0xB630, "power_active_total"),
        (0xC010, "date"),
        (0xC011, "time"),
        (0xC032, "meter_address"),
    ],
)
def test_1997_identifiers_carry_the_same_names(di: int, name: str) -> None:
    assert catalogue(V1997).lookup(di).name == name
    assert catalogue().by_name(name).name == name


def test_kinds_are_the_reading_kinds() -> None:
    assert {kind.value for kind in ReadingKind} == KINDS
    assert {item.kind for item in catalogue()} <= KINDS


def test_every_item_encodes_and_decodes_its_own_length() -> None:
    for standard in Standard:
        for item in catalogue(standard):
            fill = b"\xff" * item.length
            decoded = item.decode(fill)
            assert item.encode(decoded) == fill, item.name


@pytest.mark.parametrize(
    ("di", "payload", "value"),
    [
        (0x00010000, "26000000", 0.26),
        (0x00010000, "99999999", 999999.99),
        (0x00000000, "00010080", -1.0),  # combined energy is signed
        (0x02010100, "1022", 221.0),
        (0x02020100, "001500", 1.5),
        (0x02020100, "001580", -1.5),  # sign in the top bit of the last (most significant) byte
        (0x02030000, "341200", 0.1234),
        (0x02030000, "341280", -0.1234),
        (0x02060000, "9909", 0.999),
        (0x02060000, "0090", -1.0),
        (0x02800002, "0050", 50.0),
        (0x03110000, "120000", 12),
    ],
)
def test_numeric_values(di: int, payload: str, value: float) -> None:
    assert decode_value(di, bytes.fromhex(payload)) == pytest.approx(value)
    assert encode_value(di, value) == bytes.fromhex(payload)


def test_clock_items() -> None:
    assert decode_value(0x04000101, bytes.fromhex("01231126")) == date(2026, 11, 23)
    assert decode_value(0x04000102, bytes.fromhex("050415")) == time(15, 4, 5)
    frozen = decode_value(0x05060001, bytes.fromhex("0000231126"))
    assert frozen == datetime(2026, 11, 23, 0, 0)  # noqa: DTZ001 - meter wall clock
    assert encode_value(0x04000101, date(2026, 11, 23)) == bytes.fromhex("01231126")


def test_meter_address_item_is_a_number_in_nameplate_order() -> None:
    assert decode_value(0x04000401, bytes.fromhex("120978563412")) == 123456780912


@pytest.mark.parametrize(
    ("di", "payload", "reason"),
    [
        (0x00010000, "ffffffff", "0xFF fill"),
        (0x00010000, "2600a000", "invalid BCD"),
        (0x02010100, "1f22", "invalid BCD"),
        (0x04000101, "01231326", "date/time"),  # month 13
        (0x05060001, "0000000000", "date/time"),  # no freeze recorded yet
        (0x04000102, "0a0415", "invalid BCD"),
    ],
)
def test_unusable_content_is_not_available_not_an_exception(
    di: int, payload: str, reason: str
) -> None:
    value = decode_value(di, bytes.fromhex(payload))
    assert isinstance(value, NotAvailable)
    assert reason in value.reason


def test_block_reads_decode_to_named_values() -> None:
    voltages = decode_value(0x0201FF00, bytes.fromhex("1022 2022 3022"))
    assert voltages == {"voltage_a": 221.0, "voltage_b": 222.0, "voltage_c": 223.0}
    energy = decode_value(0x0001FF00, bytes.fromhex("00010000" * 5))
    assert isinstance(energy, Mapping)
    assert list(energy) == [
        "energy_active_import_total",
        *(f"energy_active_import_t{n}" for n in range(1, 5)),
    ]


def test_short_block_from_a_meter_with_fewer_tariffs() -> None:
    energy = decode_value(0x0001FF00, bytes.fromhex("00010000" * 3))
    assert isinstance(energy, Mapping)
    assert set(energy) == {
        "energy_active_import_total",
        "energy_active_import_t1",
        "energy_active_import_t2",
    }


def test_block_encode_fills_missing_members_with_ff() -> None:
    payload = encode_value(0x0203FF00, {"power_active_total": 1.5})
    assert payload == bytes.fromhex("005001") + b"\xff" * 9
    with pytest.raises(EncodeError, match="no members"):
        encode_value(0x0203FF00, {"nonsense": 1.0})


def test_last_outage_record_is_start_and_end() -> None:
    record = decode_value(0x03110001, bytes.fromhex("003000221126590106221126"))
    assert record == {
        "power_outage_last_start": datetime(2026, 11, 22, 0, 30, 0),  # noqa: DTZ001
        "power_outage_last_end": datetime(2026, 11, 22, 6, 1, 59),  # noqa: DTZ001
    }


@pytest.mark.parametrize("days_ago", [1, 2, 12, 62])
def test_daily_frozen_items_select_the_day_with_the_last_byte(days_ago: int) -> None:
    item = catalogue().by_name("frozen_energy_active_import")
    di = item.di_for(days_ago)
    assert di == 0x05060100 | days_ago
    assert catalogue().lookup(di) is item
    assert catalogue().lookup(0x05060000 | days_ago).name == "frozen_time"


def test_history_outside_the_range_is_unknown() -> None:
    # 62 daily records (State Grid), so day 63 is outside; 12 settlement periods, 13 outside
    assert catalogue().lookup(0x0506013E).name == "frozen_energy_active_import"
    with pytest.raises(UnknownIdentifier, match="0506013F"):
        catalogue().lookup(0x0506013F)
    with pytest.raises(EncodeError, match="period 63"):
        catalogue().by_name("frozen_time").di_for(63)
    with pytest.raises(UnknownIdentifier, match="0001FF0D"):
        catalogue().lookup(0x0001FF0D)


def test_status_word_3_names_the_relay_bit() -> None:
    item = catalogue().by_name("meter_status_3")
    word = decode_value(item.di, bytes([0x10, 0x00]))
    assert word == 0x0010
    assert isinstance(word, int)
    flags = item.decode_flags(word)
    assert flags["relay_open"] is True
    assert flags["relay_command_open"] is False


def test_wrong_payload_length_is_the_peers_fault() -> None:
    with pytest.raises(UnexpectedMessage, match=r"02010100 \(voltage_a\): expected 2 bytes, got 3"):
        decode_value(0x02010100, b"\x00\x00\x00")
    with pytest.raises(UnexpectedMessage, match="0201FF00"):
        decode_value(0x0201FF00, b"\x00" * 7)


def test_unknown_identifier_and_name() -> None:
    with pytest.raises(UnknownIdentifier, match="DI 12345678 is not in the DL/T 645-2007"):
        decode_value(0x12345678, b"")
    with pytest.raises(UnknownIdentifier, match="'no_such_quantity'"):
        catalogue(V1997).by_name("no_such_quantity")


def test_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(EncodeError, match="does not fit"):
        encode_value(0x02010100, 1000.0)
    with pytest.raises(EncodeError, match="does not fit"):
        encode_value(0x02010100, -1.0)
    with pytest.raises(EncodeError, match="does not fit"):
        encode_value(0x02060000, 8.0)  # the sign bit leaves 0..7 for the top digit
    with pytest.raises(EncodeError, match="need a date"):
        encode_value(0x04000101, 5)


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        ('{ di = "0001000", name = "x", format = "XX", unit = "", kind = "energy" }', "8 hex"),
        ('{ di = "00010000", name = "x", format = "XX", unit = "", kind = "oops" }', "'kind'"),
        ('{ di = "00010000", name = "x", format = "ZZ", unit = "", kind = "state" }', "format"),
        ('{ di = "00010000", name = "x", format = "XX", kind = "state" }', "missing key 'unit'"),
        ('{ di = "00010000", name = "x", format = "XX", unit = "", kind = "state", y = 1 }', "y"),
        ('{ di = "00010000", name = "x", format = "XX", unit = 3, kind = "state" }', "'unit'"),
        (
            '{ di = "00010000", name = "x", format = "XX", unit = "", kind = "state", '
            "history = 3 }",
            "history",
        ),
        (
            '{ di = "00010000", name = "x", format = "XX", unit = "", kind = "state", '
            "flags = { a = 1 } }",
            "flags",
        ),
    ],
)
def test_catalogue_errors_name_file_row_and_key(row: str, complaint: str) -> None:
    text = f"dlt645_2007 = [\n  {row},\n]\n"
    with pytest.raises(CatalogueError, match=r"mine\.toml: dlt645_2007\[0\]") as caught:
        load_catalogue(text, Standard.DLT645_2007, source="mine.toml")
    assert complaint in str(caught.value)


def test_catalogue_duplicates_and_bad_toml() -> None:
    row = '{ di = "00010000", name = "x", format = "XX", unit = "", kind = "state" }'
    with pytest.raises(CatalogueError, match="twice"):
        load_catalogue(f"dlt645_2007 = [{row}, {row}]", Standard.DLT645_2007, "dup.toml")
    with pytest.raises(CatalogueError, match=r"bad\.toml: not valid TOML"):
        load_catalogue("dlt645_2007 = [", Standard.DLT645_2007, "bad.toml")
    with pytest.raises(CatalogueError, match="missing array 'dlt645_1997'"):
        load_catalogue("", V1997, "empty.toml")


numeric_formats = st.sampled_from(
    ["XXXXXX.XX", "XXX.X", "XXX.XXX", "XX.XXXX", "X.XXX", "XX.XX", "XXXXXX", "XXX", "NN.NNNN"]
)


@given(numeric_formats, st.booleans(), st.data())
def test_numeric_round_trip(pattern: str, signed: bool, data: st.DataObject) -> None:
    value_format = ValueFormat(pattern, signed=signed)
    digits = value_format.digits
    top = 8 * 10 ** (digits - 1) if signed and digits % 2 == 0 else 10**digits
    scaled = data.draw(st.integers(-(top - 1) if signed else 0, top - 1))
    value = scaled / 10**value_format.decimals if value_format.decimals else scaled
    raw = value_format.encode(value)
    assert len(raw) == value_format.length
    assert value_format.decode(raw) == value


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))  # noqa: DTZ001
def test_clock_round_trip(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    full = ValueFormat("YYMMDDhhmmss")
    assert full.decode(full.encode(moment)) == moment
    day = ValueFormat("YYMMDDWW")
    assert day.decode(day.encode(moment.date())) == moment.date()
    clock = ValueFormat("hhmmss")
    assert clock.decode(clock.encode(moment.time())) == moment.time()


def test_weekday_byte_counts_from_sunday() -> None:
    sunday = date(2026, 11, 22)
    assert ValueFormat("YYMMDDWW").encode(sunday)[0] == 0
    assert ValueFormat("YYMMDDWW").encode(date(2026, 11, 28))[0] == 6


@given(st.integers(0, 0xFFFE))
def test_bit_field_round_trip(word: int) -> None:
    bits = ValueFormat("XXXX", Encoding.BITS)
    assert bits.decode(bits.encode(word)) == word


def test_all_ones_status_word_is_the_not_available_fill() -> None:
    assert isinstance(ValueFormat("XXXX", Encoding.BITS).decode(b"\xff\xff"), NotAvailable)
