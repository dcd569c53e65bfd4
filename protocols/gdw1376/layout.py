"""A small declarative language for data units: fields, counted repeats, length-prefixed bytes.

A unit's layout is a tuple of these; ``read`` walks it over the bytes and returns a dict of
named values, ``write`` does the reverse for the builders. Binary fields are little-endian
(``bin2`` is a 16-bit count); ``A.x`` fields go through ``formats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from protocols.gdw1376 import formats
from protocols.gdw1376.errors import EncodeError, UnexpectedMessage

BINARY = {"bin1": 1, "bin2": 2, "bin4": 4, "bs8": 1}
OTHER = {"ascii16": 16, "ipv4": 4, "raw6": 6, "unit_id": 4}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    fmt: str
    """``A.1``..``A.28``, ``bin1``/``bin2``/``bin4``/``bs8``, ``ascii16``, ``ipv4``, ``raw6``,
    ``unit_id`` (a DA DT pair)."""
    optional: bool = False
    """Present only if the unit still has the bytes for it (the 2013 heartbeat's clock)."""

    @property
    def length(self) -> int:
        return _length(self.fmt)


@cache
def _length(fmt: str) -> int:
    """A format's byte length, looked up once: every field of every unit read asks for it."""
    if fmt in BINARY:
        return BINARY[fmt]
    if fmt in OTHER:
        return OTHER[fmt]
    return formats.data_format(fmt).length


@dataclass(frozen=True, slots=True)
class Repeat:
    name: str
    count: str | None
    """The earlier field holding the count; None: repeat to the end of the frame's units."""
    fields: tuple[Element, ...]
    plus: int = 0
    """Added to the count (tariff values: M tariffs plus the total)."""


@dataclass(frozen=True, slots=True)
class Content:
    """``length`` bytes, the length being an earlier field's value (forwarded frames)."""

    name: str
    length: str


@dataclass(frozen=True, slots=True)
class Special:
    """Bytes read by a function of their own (event records), to the end of the units."""

    name: str
    reader: Callable[[bytes], list[dict[str, Any]]]


Element = Field | Repeat | Content | Special
Layout = tuple[Element, ...]


def read(layout: Layout, data: bytes, at: int, where: str) -> tuple[dict[str, Any], int]:
    values: dict[str, Any] = {}
    for element in layout:
        at = _read_one(element, data, at, values, where)
    return values, at


def _read_one(element: Element, data: bytes, at: int, values: dict[str, Any], where: str) -> int:
    if isinstance(element, Field):
        size = element.length
        if at + size > len(data):
            if element.optional:
                return at
            raise UnexpectedMessage(
                f"{where}: {element.name} ({element.fmt}) needs {size} bytes at offset {at}, "
                f"the units have {len(data) - at}"
            )
        values[element.name] = _field_value(element.fmt, data[at : at + size], where)
        return at + size
    if isinstance(element, Repeat):
        rows: list[dict[str, Any]] = []
        if element.count is None:
            while at < len(data):
                row, at = read(element.fields, data, at, where)
                rows.append(row)
        else:
            count = values.get(element.count)
            if not isinstance(count, int):
                raise UnexpectedMessage(f"{where}: {element.count} is not a count ({count!r})")
            for _ in range(count + element.plus):
                row, at = read(element.fields, data, at, where)
                rows.append(row)
        values[element.name] = [row[""] for row in rows] if _is_list(element) else rows
        return at
    if isinstance(element, Content):
        length = values[element.length]
        if not isinstance(length, int):
            raise UnexpectedMessage(f"{where}: {element.length} is not a length ({length!r})")
        if at + length > len(data):
            raise UnexpectedMessage(
                f"{where}: {element.name} of {length} bytes, only {len(data) - at} left"
            )
        values[element.name] = bytes(data[at : at + length])
        return at + length
    values[element.name] = element.reader(bytes(data[at:]))
    return len(data)


def _is_list(repeat: Repeat) -> bool:
    """A repeat of one unnamed field reads as a plain list of values (tariff values)."""
    return len(repeat.fields) == 1 and repeat.fields[0].name == ""


def values_of(fmt: str, name: str, count: str, plus: int = 0) -> Repeat:
    return Repeat(name, count, (Field("", fmt),), plus)


def _field_value(fmt: str, raw: bytes, where: str) -> Any:
    if fmt in BINARY:
        return int.from_bytes(raw, "little")
    if fmt == "ascii16":
        return raw.rstrip(b"\x00").decode("ascii", errors="replace")
    if fmt == "ipv4":
        return ".".join(str(byte) for byte in raw)
    if fmt in ("raw6", "unit_id"):
        return raw.hex()
    try:
        return formats.decode(fmt, raw)
    except UnexpectedMessage as exc:
        raise UnexpectedMessage(f"{where}: {exc}") from None


def write(layout: Layout, values: Mapping[str, Any], where: str) -> bytes:
    out = bytearray()
    for element in layout:
        if isinstance(element, Field):
            if element.name not in values:
                if element.optional:
                    continue
                raise EncodeError(f"{where}: no value for {element.name}")
            out += _field_bytes(element, values[element.name], where)
        elif isinstance(element, Repeat):
            for row in values.get(element.name, ()):
                out += write(element.fields, {"": row} if _is_list(element) else row, where)
        elif isinstance(element, Content):
            out += bytes(values[element.name])
        elif isinstance(values.get(element.name), bytes | bytearray):
            out += values[element.name]  # already encoded by its module (events.encode_record)
        else:
            raise EncodeError(f"{where}: {element.name} is written as encoded bytes only")
    return bytes(out)


def _field_bytes(field: Field, value: Any, where: str) -> bytes:
    fmt = field.fmt
    try:
        if fmt in BINARY:
            return int(value).to_bytes(BINARY[fmt], "little")
        if fmt == "ascii16":
            text = str(value).encode("ascii")
            if len(text) > 16:
                raise EncodeError(f"{field.name}: {value!r} is longer than 16 characters")
            return text.ljust(16, b"\x00")
        if fmt == "ipv4":
            parts = [int(part) for part in str(value).split(".")]
            if len(parts) != 4:
                raise ValueError("not a dotted IPv4 address")
            return bytes(parts)
        if fmt in ("raw6", "unit_id"):
            raw = bytes.fromhex(str(value))
            if len(raw) != field.length:
                raise ValueError(f"expected {field.length} bytes")
            return raw
        return formats.encode(fmt, value)
    except (ValueError, OverflowError, UnicodeEncodeError) as exc:
        raise EncodeError(f"{where}: {field.name} = {value!r}: {exc}") from None
