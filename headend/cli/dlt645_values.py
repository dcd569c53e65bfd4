"""Decoded DL/T 645 payloads -> printable rows, keeping the meter's own decimals and units.

The catalogue knows each identifier's format, so ``220.1 V`` prints as the meter sent it
(one decimal), clocks print as ISO 8601, status words as hex with their named bits, and an
identifier outside the catalogue still shows its payload in hex: at the meter box an unknown
reply is information, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

from headend.cli.output import Row, not_available
from protocols.dlt645 import DataItem, NotAvailable, Standard, Value
from protocols.dlt645.values import Encoding, ValueFormat


def di_label(di: int, standard: Standard) -> str:
    return f"{di:0{2 * standard.di_length}X}"


def rows_for(item: DataItem | None, di: int, payload: bytes, standard: Standard) -> list[Row]:
    """The rows of one reply payload; raises ``UnexpectedMessage`` if its length is wrong."""
    label = di_label(di, standard)
    if item is None:
        return [Row(label, payload.hex(" ") or "(empty)", payload.hex(), "", label, "raw payload")]
    suffix = f"[{di & 0xFF}]" if item.history and di != item.di else ""
    decoded = item.decode(payload)
    if isinstance(decoded, Mapping):
        return [_row(item, name, suffix, value, label) for name, value in decoded.items()]
    return [_row(item, item.name, suffix, decoded, label)]


def _row(item: DataItem, name: str, suffix: str, value: Value, source: str) -> Row:
    """One value's row; a record's fields each keep their own format and unit."""
    part = item.part_of(name)
    shown, unit, value_format = name + suffix, part.unit, part.format
    if isinstance(value, NotAvailable):
        return not_available(shown, value.reason, unit=unit, source=source)
    if isinstance(value, datetime | date | time):
        return Row(shown, value.isoformat(), value.isoformat(), unit, source)
    if isinstance(value, str):
        return Row(shown, value, value, unit, source)
    if value_format.encoding is Encoding.BITS:
        return _status_word(item, shown, int(value), value_format, source)
    if value_format.pattern.startswith("N"):
        # identifiers such as the meter address: digits, not a quantity
        return Row(shown, f"{int(value):0{value_format.digits}d}", int(value), unit, source)
    decimals = value_format.decimals
    text = f"{value:.{decimals}f}" if decimals else str(int(value))
    return Row(shown, text, value, unit, source)


def _status_word(
    item: DataItem, name: str, word: int, value_format: ValueFormat, source: str
) -> Row:
    set_flags = [flag for flag, on in item.decode_flags(word).items() if on]
    text = f"0x{word:0{2 * value_format.length}X}"
    return Row(name, text, word, "", source, ", ".join(set_flags) or None)
