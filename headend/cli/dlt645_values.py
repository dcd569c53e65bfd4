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
from protocols.dlt645.values import Encoding


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
        return [_row(item, name + suffix, value, label) for name, value in decoded.items()]
    return [_row(item, item.name + suffix, decoded, label)]


def _row(item: DataItem, name: str, value: Value, source: str) -> Row:
    if isinstance(value, NotAvailable):
        return not_available(name, value.reason, unit=item.unit, source=source)
    if isinstance(value, datetime | date | time):
        return Row(name, value.isoformat(), value.isoformat(), item.unit, source)
    if item.format.encoding is Encoding.BITS:
        return _status_word(item, name, int(value), source)
    if item.format.pattern.startswith("N"):
        # identifiers such as the meter address: digits, not a quantity
        return Row(name, f"{int(value):0{item.format.digits}d}", int(value), item.unit, source)
    text = f"{value:.{item.decimals}f}" if item.decimals else str(int(value))
    return Row(name, text, value, item.unit, source)


def _status_word(item: DataItem, name: str, word: int, source: str) -> Row:
    set_flags = [flag for flag, on in item.decode_flags(word).items() if on]
    text = f"0x{word:0{2 * item.format.length}X}"
    return Row(name, text, word, item.unit, source, ", ".join(set_flags) or None)
