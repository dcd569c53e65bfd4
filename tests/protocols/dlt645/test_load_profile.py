# ruff: noqa: DTZ001 - load profile times are the meter's wall clock, naive by design
"""Load profile codec against records laid out by hand from the cited layouts.

The bytes below are written field by field from DL/T 645-2007 appendix A.7 / the record
format (A0 A0, length, YYMMDDhhmm, class blocks each closed by AA, CS, E5) and the request
builder of a concentrator (DI, count, start time low byte first); see docs/dlt645.md.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from protocols.dlt645.address import Address
from protocols.dlt645.frame import encode
from protocols.dlt645.load_profile import (
    CLASSES,
    LoadProfileQuery,
    LoadProfileRequest,
    LoadRecord,
    Mode,
    RecordChecksumError,
    RecordEndError,
    RecordLengthError,
    encode_record,
    parse_query,
    parse_records,
)
from protocols.dlt645.values import NotAvailable

# 2026-12-02 06:15, class 1 only: Ua 220.1 V, Ub 219.8 V, Uc 221.0 V, Ia 5.123 A,
# Ib 4.900 A, Ic 0.010 A, f 50.01 Hz; classes 2..6 absent (only their AA).
CLASS1_BODY = bytes.fromhex(
    "15 06 02 12 26"  # mm hh DD MM YY
    "01 22 98 21 10 22"  # Ua Ub Uc
    "23 51 00 00 49 00 10 00 00"  # Ia Ib Ic
    "01 50"  # f
    "AA AA AA AA AA AA"
)
CLASS1_RECORD = (
    b"\xa0\xa0"
    + bytes((len(CLASS1_BODY),))
    + CLASS1_BODY
    + bytes(((0xA0 + 0xA0 + len(CLASS1_BODY) + sum(CLASS1_BODY)) & 0xFF, 0xE5))
)


def test_class1_record_decodes_under_catalogue_names() -> None:
    profile = parse_records(CLASS1_RECORD)
    assert profile.bad_blocks == 0
    (record,) = profile.records
    assert record.time == datetime(2026, 12, 2, 6, 15)
    assert record.values == {
        "voltage_a": 220.1,
        "voltage_b": 219.8,
        "voltage_c": 221.0,
        "current_a": 5.123,
        "current_b": 4.9,
        "current_c": 0.01,
        "frequency": 50.01,
    }


def test_record_length_is_time_to_last_separator() -> None:
    assert CLASS1_RECORD[2] == 5 + 17 + 6
    assert len(CLASS1_RECORD) == 3 + CLASS1_RECORD[2] + 2


def test_full_record_round_trips_all_six_classes() -> None:
    values = {
        name: fmt.decode(fmt.encode(1.0 if fmt.decimals else 1))
        for c in CLASSES
        for name, fmt in c.fields
    }
    raw = encode_record(LoadRecord(datetime(2026, 1, 31, 23, 45), values))
    assert len(raw) == 3 + 5 + sum(c.length for c in CLASSES) + 6 + 2
    assert raw[2] == 5 + 17 + 24 + 8 + 16 + 16 + 6 + 6
    (record,) = parse_records(raw).records
    assert record.values == values


def test_several_records_and_a_bad_block_in_one_reply() -> None:
    later = encode_record(
        LoadRecord(datetime(2026, 12, 2, 6, 30), {"voltage_a": 230.0}), frozenset({1})
    )
    bad = encode_record(LoadRecord(datetime(2026, 12, 2, 6, 45), {}), frozenset({1}), bad=True)
    assert bad[:2] == b"\xe0\xe0"
    profile = parse_records(CLASS1_RECORD + bad + later)
    assert [r.time.minute for r in profile.records] == [15, 30]
    assert profile.bad_blocks == 1
    assert profile.records[1].values["voltage_a"] == 230.0
    assert profile.records[1].values["voltage_b"] == NotAvailable("not available: 0xFF fill")


def test_single_class_reply_without_leading_separators() -> None:
    # A class-4 reply that starts with the class's data, as the concentrator source handles.
    energy = bytes.fromhex("50 34 12 00  00 00 00 00  25 01 00 00  00 00 00 80") + b"\xaa"
    body = bytes.fromhex("00 07 02 12 26") + energy
    raw = b"\xa0\xa0" + bytes((len(body),)) + body
    raw += bytes((sum(raw) & 0xFF, 0xE5))
    (record,) = parse_records(raw, profile_class=4).records
    assert record.values == {
        "energy_active_import_total": 1234.5,
        "energy_active_export_total": 0.0,
        "energy_reactive_1_total": 1.25,
        "energy_reactive_2_total": -0.0,
    }


def test_bad_checksum_is_typed() -> None:
    broken = bytearray(CLASS1_RECORD)
    broken[-2] ^= 0x01
    with pytest.raises(RecordChecksumError, match="checksum"):
        parse_records(bytes(broken))


def test_missing_end_byte_is_typed() -> None:
    with pytest.raises(RecordEndError, match="E5"):
        parse_records(CLASS1_RECORD[:-1] + b"\x16")


def test_cut_record_is_a_length_error() -> None:
    with pytest.raises(RecordLengthError, match="does not fit"):
        parse_records(CLASS1_RECORD[:20])


def test_wrong_class_length_is_a_length_error() -> None:
    body = CLASS1_BODY[:5] + CLASS1_BODY[6:]  # class 1 one byte short
    raw = b"\xa0\xa0" + bytes((len(body),)) + body
    raw += bytes((sum(raw) & 0xFF, 0xE5))
    with pytest.raises(RecordLengthError, match="class 1"):
        parse_records(raw)


def test_garbage_between_records_is_named() -> None:
    with pytest.raises(RecordLengthError, match="not A0 A0"):
        parse_records(CLASS1_RECORD + b"\x00\x01")


def test_given_time_request_bytes() -> None:
    # DI 06000001, then NN = 01 blocks, then mm hh DD MM YY, each +0x33 on the wire.
    query = LoadProfileQuery(0, Mode.GIVEN_TIME, datetime(2026, 12, 2, 6, 15), 1)
    frame = encode(LoadProfileRequest(Address.parse("000012345678"), query).to_frame(), preamble=0)
    body = bytes.fromhex("68 78 56 34 12 00 00 68 11 0A 34 33 33 39 34 48 39 35 45 59")
    assert frame == body + bytes((sum(body) & 0xFF, 0x16))


def test_query_parses_back_and_rejects_bad_parameters() -> None:
    query = LoadProfileQuery(1, Mode.GIVEN_TIME, datetime(2026, 12, 2, 6, 15), 12)
    assert query.di == 0x06010001
    assert parse_query(query.di, query.parameters()) == query
    assert parse_query(0x06000002, b"\x01") == LoadProfileQuery(0, Mode.LATEST, None, 1)
    with pytest.raises(ValueError, match="parameter bytes"):
        parse_query(0x06000001, b"\x01")
    with pytest.raises(ValueError, match="not a time"):
        parse_query(0x06000001, bytes.fromhex("01 99 99 99 99 99"))
