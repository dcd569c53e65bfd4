"""The compiled readers against the reference walker (``layout.read``): the same values, the
same offset after the unit, the same error message, for every layout of the catalogue and every
data format, on random bytes, on no-data fills and on valid values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.gdw1376 import formats
from protocols.gdw1376.catalogue import LAYOUTS
from protocols.gdw1376.errors import UnexpectedMessage
from protocols.gdw1376.layout import (
    BINARY,
    OTHER,
    Field,
    Layout,
    Repeat,
    _field_value,
    read,
    values_of,
)
from protocols.gdw1376.reader import compile_layout, decoder_of

KEYS = sorted(LAYOUTS)
ALL_FORMATS = sorted({*formats.FORMATS, *BINARY, *OTHER})
WHERE = "AFN 0DH p1 F161"
VALID_BCD = [tens << 4 | ones for tens in range(10) for ones in range(10)]


def outcome(reader: Any, data: bytes, at: int) -> tuple[str, Any]:
    try:
        return "values", reader(data, at, WHERE)
    except UnexpectedMessage as exc:
        return "error", str(exc)


def reference(layout: Layout) -> Any:
    return lambda data, at, where: read(layout, data, at, where)


def assert_same(layout: Layout, data: bytes, at: int = 0) -> None:
    expected = outcome(reference(layout), data, at)
    assert outcome(compile_layout(layout), data, at) == expected


def value_of(fmt: str, raw: bytes) -> tuple[str, Any]:
    try:
        return "value", _field_value(fmt, raw, WHERE)
    except UnexpectedMessage as exc:
        return "error", str(exc)


def decoded(fmt: str, raw: bytes) -> tuple[str, Any]:
    try:
        return "value", decoder_of(fmt)(b"\x99" + raw, 1, WHERE)
    except UnexpectedMessage as exc:
        return "error", str(exc)


@pytest.mark.parametrize("fmt", [f for f in ALL_FORMATS if Field("", f).length <= 2])
def test_every_value_of_the_short_formats(fmt: str) -> None:
    """One- and two-byte formats, every byte string of them (sign bits, EEH, FFH, bad BCD)."""
    size = Field("", fmt).length
    for number in range(256**size):
        raw = number.to_bytes(size, "little")
        assert decoded(fmt, raw) == value_of(fmt, raw), raw.hex(" ")


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@settings(max_examples=300)
@given(data=st.data())
def test_each_format_decodes_as_the_reference(fmt: str, data: st.DataObject) -> None:
    size = Field("", fmt).length
    byte = st.one_of(st.sampled_from(VALID_BCD), st.integers(0, 255), st.just(0xEE))
    raw = bytes(data.draw(st.lists(byte, min_size=size, max_size=size)))
    assert decoded(fmt, raw) == value_of(fmt, raw), raw.hex(" ")


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("fill", [0xEE, 0xFF, 0x00, 0x99])
def test_fills_decode_as_the_reference(fmt: str, fill: int) -> None:
    raw = bytes((fill,)) * Field("", fmt).length
    assert decoded(fmt, raw) == value_of(fmt, raw)


@pytest.mark.parametrize(
    "key", KEYS, ids=[f"{a:02X}-F{f}-{'up' if u else 'down'}" for a, f, u in KEYS]
)
@settings(max_examples=150)
@given(data=st.data())
def test_each_catalogue_layout_reads_as_the_reference(
    key: tuple[int, int, bool], data: st.DataObject
) -> None:
    """Random bytes (most fail somewhere: the error must be the walker's), BCD-valid bytes
    (mostly values), small counts, and the unit at an offset inside the body."""
    layout = LAYOUTS[key]
    byte = st.one_of(st.sampled_from(VALID_BCD), st.integers(0, 255))
    prefix = data.draw(st.binary(max_size=3))
    body = bytes(data.draw(st.lists(byte, max_size=120)))
    assert_same(layout, prefix + body, len(prefix))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("fill", [0xEE, 0xFF, 0x00, 0x01, 0x04])
@pytest.mark.parametrize("size", [0, 1, 5, 17, 40, 200])
def test_each_catalogue_layout_on_fills(key: tuple[int, int, bool], fill: int, size: int) -> None:
    """No-data fills and fills whose counts are small (1, 4: tariffs, points, records)."""
    assert_same(LAYOUTS[key], bytes((fill,)) * size)


@given(
    count=st.integers(0, 6),
    plus=st.integers(0, 2),
    values=st.lists(st.sampled_from([*VALID_BCD, 0xEE, 0xFF]), max_size=60),
)
def test_counted_and_open_repeats(count: int, plus: int, values: list[int]) -> None:
    """The repeats' shapes the catalogue has and others may add: counted lists, counted
    rows, rows to the end of the units."""
    layouts: list[Layout] = [
        (Field("n", "bin1"), values_of("A.14", "energies", "n", plus)),
        (Field("n", "bin1"), Repeat("rows", "n", (Field("a", "A.7"), Field("t", "A.15")), plus)),
        (Field("a", "A.9"), Repeat("rest", None, (Field("x", "A.5"), Field("y", "bin2")))),
        (Field("n", "A.20"), values_of("A.5", "bad", "n")),  # a count that is not an int
        (Field("clock", "A.1", optional=True), Field("after", "bin1", optional=True)),
    ]
    for layout in layouts:
        assert_same(layout, bytes((count, *values)))


def test_a_daily_frozen_unit_reads_its_values() -> None:
    """A plain F161 unit: Td_d, read time, 4 tariffs, five energies (one with no data)."""
    unit = bytes.fromhex(
        "31 03 26"  # Td_d 2026-03-31
        "05 00 01 04 26"  # read 2026-04-01 00:05
        "04"  # tariffs
        "67 45 23 01 00"  # 123.4567
        "00 00 00 01 00  ee ee ee ee ee  11 11 11 11 11  99 99 99 99 99"
    )
    values, end = compile_layout(LAYOUTS[(0x0D, 161, True)])(unit, 0, WHERE)
    assert end == len(unit)
    assert values["forward_active"] == [123.4567, 100.0, None, 111111.1111, 9999999999 / 10000]
    assert str(values["td_d"]) == "2026-03-31"
    assert str(values["read_time"]) == "2026-04-01 00:05:00"
