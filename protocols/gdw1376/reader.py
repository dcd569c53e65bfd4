"""Layouts compiled once into readers: the same values as ``layout.read``, at a fraction of
the cost.

``layout.read`` walks a layout per field per frame: type tests, a format table lookup, a length
check and three calls for every value (about 15 µs a value on the master's busiest path, the
daily pull's 40 values a reply frame). A compiled reader does that work once per layout: runs of
fixed fields become one length check and a list of (name, offset, decoder), and each decoder is
specialised to its format (BCD through ``bytes.hex`` or a lookup table, binary through
``int.from_bytes``). Any input the fast decoders do not take as a plain valid value (no data,
bad BCD, an impossible date, too few bytes) goes to the reference walker, so the values and the
error messages are the reference's by construction; ``tests/protocols/gdw1376/test_reader.py``
compares the two on every catalogue layout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from protocols.gdw1376 import formats
from protocols.gdw1376.errors import UnexpectedMessage
from protocols.gdw1376.layout import (
    BINARY,
    Field,
    Layout,
    Repeat,
    _field_value,
    _is_list,
    _length,
    _read_one,
)

Reader = Callable[[bytes, int, str], tuple[dict[str, Any], int]]
"""(data, offset, where) -> (values, offset after the unit), as ``layout.read``."""
Decoder = Callable[[bytes, int, str], Any]
"""(data, offset, where) -> the value of one field at ``offset`` (enough bytes are there)."""
_Step = Callable[[bytes, int, dict[str, Any], str], int]

_BCD = tuple(
    (byte >> 4) * 10 + (byte & 0x0F) if byte >> 4 <= 9 and byte & 0x0F <= 9 else -1
    for byte in range(256)
)
"""A byte's two BCD digits as a number; -1 if a nibble is not a digit (EEH, FFH among them)."""
_BCD_LOW7 = tuple(_BCD[byte & 0x7F] for byte in range(256))
"""The last byte of a signed number: its top bit is the sign."""
_BCD_LOW5 = tuple(_BCD[byte & 0x1F] for byte in range(256))
"""A.1's weekday-month byte: the month in D4..D0."""


def compile_layout(layout: Layout) -> Reader:
    """A reader of ``layout`` equal to ``lambda data, at, where: layout.read(layout, ...)``."""
    steps = _steps(layout)

    def read(data: bytes, at: int, where: str) -> tuple[dict[str, Any], int]:
        values: dict[str, Any] = {}
        for step in steps:
            at = step(data, at, values, where)
        return values, at

    return read


def _steps(layout: Layout) -> list[_Step]:
    steps: list[_Step] = []
    run: list[Field] = []
    for element in layout:
        if isinstance(element, Field) and not element.optional:
            run.append(element)
            continue
        if run:
            steps.append(_fixed_run(tuple(run)))
            run = []
        if isinstance(element, Repeat):
            steps.append(_repeat(element))
        else:  # optional fields, length-prefixed content, special readers: rare, as walked
            steps.append(_walked(element))
    if run:
        steps.append(_fixed_run(tuple(run)))
    return steps


def _walked(element: Any) -> _Step:
    def step(data: bytes, at: int, values: dict[str, Any], where: str) -> int:
        return _read_one(element, data, at, values, where)

    return step


def _fixed_run(fields: tuple[Field, ...]) -> _Step:
    """Consecutive mandatory fields: one length check, then each decoder at its offset."""
    plan: list[tuple[str, int, Decoder]] = []
    size = 0
    for field in fields:
        plan.append((field.name, size, decoder_of(field.fmt)))
        size += field.length

    def step(data: bytes, at: int, values: dict[str, Any], where: str) -> int:
        if at + size > len(data):  # the walker names the field that does not fit
            for field in fields:
                at = _read_one(field, data, at, values, where)
            return at
        for name, offset, decode in plan:
            values[name] = decode(data, at + offset, where)
        return at + size

    return step


def _repeat(repeat: Repeat) -> _Step:
    if repeat.count is not None and _is_list(repeat):
        return _counted_values(repeat, repeat.count)
    row_reader = compile_layout(repeat.fields)
    count_name, plus, name = repeat.count, repeat.plus, repeat.name

    def step(data: bytes, at: int, values: dict[str, Any], where: str) -> int:
        rows: list[dict[str, Any]] = []
        if count_name is None:
            while at < len(data):
                row, at = row_reader(data, at, where)
                rows.append(row)
        else:
            count = values.get(count_name)
            if not isinstance(count, int):
                raise UnexpectedMessage(f"{where}: {count_name} is not a count ({count!r})")
            for _ in range(count + plus):
                row, at = row_reader(data, at, where)
                rows.append(row)
        values[name] = [row[""] for row in rows] if _is_list(repeat) else rows
        return at

    return step


def _counted_values(repeat: Repeat, count_name: str) -> _Step:
    """A counted list of one format (tariff values, curve points): one check for all."""
    field = repeat.fields[0]
    assert isinstance(field, Field)  # what ``_is_list`` says
    decode, size = decoder_of(field.fmt), field.length
    plus, name = repeat.plus, repeat.name

    def step(data: bytes, at: int, values: dict[str, Any], where: str) -> int:
        count = values.get(count_name)
        if not isinstance(count, int) or at + (count + plus) * size > len(data):
            return _read_one(repeat, data, at, values, where)  # the walker's error
        end = at + max(count + plus, 0) * size
        values[name] = [decode(data, offset, where) for offset in range(at, end, size)]
        return end

    return step


# --- one field -------------------------------------------------------------------------


def decoder_of(fmt: str) -> Decoder:
    """The decoder of one format, equal to ``layout._field_value`` on the field's bytes."""
    size = _length(fmt)
    if fmt in BINARY:
        if size == 1:
            return lambda data, at, where: data[at]
        return lambda data, at, where: int.from_bytes(data[at : at + size], "little")
    spec = formats.FORMATS.get(fmt)
    if spec is not None:
        if spec.kind == "number":
            return _number_decoder(spec)
        if spec.kind == "address":
            return _address_decoder(spec)
        if spec.kind == "time" and "Y" in spec.fields:
            return _date_decoder(spec)
    return _walked_decoder(fmt, size)


def _walked_decoder(fmt: str, size: int) -> Decoder:
    def decode(data: bytes, at: int, where: str) -> Any:
        return _field_value(fmt, data[at : at + size], where)

    return decode


def _number_decoder(spec: formats.DataFormat) -> Decoder:
    """BCD digits, least significant byte first: reversed, they are the number in hex."""
    fmt, size, divisor = spec.code, spec.length, 10**spec.decimals
    if spec.signed:
        top_scale, head = 100 ** (size - 1), size - 1

        def decode_signed(data: bytes, at: int, where: str) -> Any:
            last = data[at + head]
            top = _BCD_LOW7[last]
            text = data[at : at + head][::-1].hex()
            if top < 0 or not text.isdigit():
                return _field_value(fmt, data[at : at + size], where)
            value = top * top_scale + int(text) if text else top
            if last & 0x80:
                value = -value
            return value / divisor if divisor != 1 else value

        return decode_signed

    def decode(data: bytes, at: int, where: str) -> Any:
        text = data[at : at + size][::-1].hex()
        if not text.isdigit():
            return _field_value(fmt, data[at : at + size], where)
        return int(text) / divisor if divisor != 1 else int(text)

    return decode


def _address_decoder(spec: formats.DataFormat) -> Decoder:
    fmt, size = spec.code, spec.length

    def decode(data: bytes, at: int, where: str) -> Any:
        text = data[at : at + size][::-1].hex()
        return text if text.isdigit() else _field_value(fmt, data[at : at + size], where)

    return decode


def _date_decoder(spec: formats.DataFormat) -> Decoder:
    """Dates and date-times (A.1, A.15, A.20, A.21): BCD fields through a table each."""
    fmt, size = spec.code, spec.length
    tables = tuple(_BCD_LOW5 if name == "WM" else _BCD for name in spec.fields)
    names = ["M" if name == "WM" else name for name in spec.fields]
    year = names.index("Y")
    month = names.index("M")
    if "D" not in names:

        def decode_month(data: bytes, at: int, where: str) -> Any:
            parts = [table[byte] for table, byte in zip(tables, data[at : at + size], strict=True)]
            if -1 in parts or not 1 <= parts[month] <= 12:
                return _field_value(fmt, data[at : at + size], where)
            return date(2000 + parts[year], parts[month], 1)

        return decode_month
    day = names.index("D")
    if "h" not in names:

        def decode_date(data: bytes, at: int, where: str) -> Any:
            parts = [table[byte] for table, byte in zip(tables, data[at : at + size], strict=True)]
            if -1 in parts:
                return _field_value(fmt, data[at : at + size], where)
            try:
                return date(2000 + parts[year], parts[month], parts[day])
            except ValueError:
                return _field_value(fmt, data[at : at + size], where)

        return decode_date
    hour, minute = names.index("h"), names.index("m")
    second = names.index("s") if "s" in names else None

    def decode_datetime(data: bytes, at: int, where: str) -> Any:
        parts = [table[byte] for table, byte in zip(tables, data[at : at + size], strict=True)]
        if -1 in parts:
            return _field_value(fmt, data[at : at + size], where)
        try:
            # The terminal's local wall clock, as ``formats`` reads it: the protocol has no zone.
            return datetime(  # noqa: DTZ001
                2000 + parts[year],
                parts[month],
                parts[day],
                parts[hour],
                parts[minute],
                0 if second is None else parts[second],
            )
        except ValueError:
            return _field_value(fmt, data[at : at + size], where)

    return decode_datetime
