"""Register-level vocabulary: tables, value types and word order, and raw packing.

Modbus moves 16-bit big-endian registers; everything wider than one register is a vendor
convention. Keeping the conversion in one place means the head-end decoder and the simulator
encoder cannot disagree about it.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Sequence

from protocols.modbus.errors import RegisterDecodeError, RegisterEncodeError

MAX_READ_REGISTERS = 125
"""Modbus application protocol v1.1b3, 6.3/6.4: at most 125 registers per read request."""


class Table(enum.StrEnum):
    """The register table a point lives in; it fixes the read function code."""

    HOLDING = "holding"
    INPUT = "input"

    @property
    def function_code(self) -> int:
        """Function code of the read request for this table."""
        return 3 if self is Table.HOLDING else 4


class ValueType(enum.StrEnum):
    """How the registers of one point are interpreted."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def width(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return 1 if self in (ValueType.INT16, ValueType.UINT16) else 2

    @property
    def struct_code(self) -> str:
        """The :mod:`struct` code of the value in big-endian byte order."""
        return _STRUCT_CODES[self]


_STRUCT_CODES = {
    ValueType.INT16: "h",
    ValueType.UINT16: "H",
    ValueType.INT32: "i",
    ValueType.UINT32: "I",
    ValueType.FLOAT32: "f",
}


class WordOrder(enum.StrEnum):
    """Order of the 16-bit words of a 32-bit value; bytes inside a word are always big-endian."""

    HIGH_FIRST = "high_first"
    """The register at the lower address holds the most significant word (Eastron, Chint)."""
    LOW_FIRST = "low_first"
    """The register at the lower address holds the least significant word ("swapped")."""


def unpack_raw(registers: Sequence[int], value_type: ValueType, word_order: WordOrder) -> float:
    """The raw (unscaled) number held in ``registers``; NaN and infinities pass through."""
    if len(registers) != value_type.width:
        raise RegisterDecodeError(
            f"{value_type} needs {value_type.width} register(s), got {len(registers)}"
        )
    words = list(registers)
    if word_order is WordOrder.LOW_FIRST:
        words.reverse()
    for word in words:
        if not 0 <= word <= 0xFFFF:
            raise RegisterDecodeError(f"register value {word!r} is not a 16-bit word")
    data = b"".join(word.to_bytes(2, "big") for word in words)
    raw: float = struct.unpack(">" + value_type.struct_code, data)[0]
    return raw


def pack_raw(raw: float, value_type: ValueType, word_order: WordOrder) -> list[int]:
    """The registers that hold ``raw``; integers are rounded to the nearest step."""
    if value_type is ValueType.FLOAT32:
        try:
            data = struct.pack(">f", raw)
        except OverflowError as exc:
            raise RegisterEncodeError(f"{raw!r} does not fit float32") from exc
    else:
        if not math.isfinite(raw):
            raise RegisterEncodeError(f"{raw!r} cannot be stored as {value_type}")
        try:
            data = struct.pack(">" + value_type.struct_code, round(raw))
        except struct.error as exc:
            raise RegisterEncodeError(f"{raw!r} is out of range for {value_type}") from exc
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if word_order is WordOrder.LOW_FIRST:
        words.reverse()
    return words
