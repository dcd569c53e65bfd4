"""The data formats of appendix A (A.1 to A.28) as one typed table, and their codecs.

Each row names the standard's format, its length, and how to read it: a BCD number (digits,
decimals, whether the top bit of the last byte is a sign), a date-time made of BCD fields, an
address, or one of the three formats with a scale field (A.2, A.3, A.28). A field of EEH bytes
is "no data" (the terminal has not read it) and decodes to None, as in DL/T 645; a field with
some EEH bytes too (a published AFN 0D F2 reply starts its first value with 00 then EEH), since
EEH is never a BCD byte.
A table in code rather than a data file: the formats are fixed by the standard, few, and the
codec of each kind is code anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from protocols.gdw1376.errors import EncodeError, UnexpectedMessage

Kind = Literal["number", "time", "address", "scaled", "rate", "position"]
Value = int | float | str | date | datetime | None

NO_DATA = 0xEE


@dataclass(frozen=True, slots=True)
class DataFormat:
    code: str
    """``A.14``."""
    name: str
    """What the standard's table shows (``xxxxxx.xxxx``, ``分时日月年``)."""
    length: int
    kind: Kind
    decimals: int = 0
    signed: bool = False
    fields: tuple[str, ...] = ()
    """For ``time``: the BCD fields in wire order (second, minute, hour, day, month, year)."""


FORMATS: dict[str, DataFormat] = {
    row.code: row
    for row in (
        DataFormat("A.1", "秒分时日星期-月年", 6, "time", fields=("s", "m", "h", "D", "WM", "Y")),
        DataFormat("A.2", "±(3 digits) x 10^G", 2, "scaled", signed=True),
        DataFormat("A.3", "±xxxxxxx kWh|MWh (G)", 4, "scaled", signed=True),
        DataFormat("A.4", "上浮/下浮 xx (S0)", 1, "rate", signed=True),
        DataFormat("A.5", "±xxx.x", 2, "number", 1, True),
        DataFormat("A.6", "±xx.xx", 2, "number", 2, True),
        DataFormat("A.7", "xxx.x", 2, "number", 1),
        DataFormat("A.8", "xxxx", 2, "number", 0),
        DataFormat("A.9", "±xx.xxxx", 3, "number", 4, True),
        DataFormat("A.10", "xxxxxx", 3, "number", 0),
        DataFormat("A.11", "xxxxxx.xx", 4, "number", 2),
        DataFormat("A.12", "12-digit address", 6, "address"),
        DataFormat("A.13", "xxxx.xxxx", 4, "number", 4),
        DataFormat("A.14", "xxxxxx.xxxx", 5, "number", 4),
        DataFormat("A.15", "分时日月年", 5, "time", fields=("m", "h", "D", "M", "Y")),
        DataFormat("A.16", "秒分时日", 4, "time", fields=("s", "m", "h", "D")),
        DataFormat("A.17", "分时日月", 4, "time", fields=("m", "h", "D", "M")),
        DataFormat("A.18", "分时日", 3, "time", fields=("m", "h", "D")),
        DataFormat("A.19", "分时", 2, "time", fields=("m", "h")),
        DataFormat("A.20", "日月年", 3, "time", fields=("D", "M", "Y")),
        DataFormat("A.21", "月年", 2, "time", fields=("M", "Y")),
        DataFormat("A.22", "x.x", 1, "number", 1),
        DataFormat("A.23", "xx.xxxx", 3, "number", 4),
        DataFormat("A.24", "时日", 2, "time", fields=("h", "D")),
        DataFormat("A.25", "±xxx.xxx", 3, "number", 3, True),
        DataFormat("A.26", "x.xxx", 2, "number", 3),
        DataFormat("A.27", "xxxxxxxx", 4, "number", 0),
        DataFormat("A.28", "经纬度 度分秒 (F)", 5, "position"),
    )
}


def data_format(code: str) -> DataFormat:
    try:
        return FORMATS[code]
    except KeyError:
        raise EncodeError(f"data format {code!r}: not one of A.1..A.28") from None


def decode(code: str, raw: bytes) -> Value:
    """The value of ``raw`` in format ``code``; None for "no data" (all EEH)."""
    fmt = data_format(code)
    if len(raw) != fmt.length:
        raise UnexpectedMessage(f"{code}: {len(raw)} bytes, the format has {fmt.length}")
    if NO_DATA in raw or raw.count(0xFF) == len(raw):
        return None
    try:
        if fmt.kind == "number":
            return _number(fmt, raw)
        if fmt.kind == "time":
            return _time(fmt, raw)
        if fmt.kind == "address":
            return _digits(raw)
        if fmt.kind == "scaled":
            return _scaled(fmt, raw)
        if fmt.kind == "rate":
            value = _bcd(raw[0] & 0x7F)
            return -value if raw[0] & 0x80 else value
        return _position(raw)
    except ValueError as exc:
        raise UnexpectedMessage(f"{code} ({fmt.name}): {raw.hex(' ')}: {exc}") from None


def encode(code: str, value: Value) -> bytes:
    """``value`` in format ``code`` (None: no data, all EEH)."""
    fmt = data_format(code)
    if value is None:
        return bytes((NO_DATA,)) * fmt.length
    if fmt.kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return _encode_number(fmt, value)
    if fmt.kind == "address" and isinstance(value, str):
        if len(value) != 12 or not value.isdigit():
            raise EncodeError(f"A.12 address {value!r}: expected 12 digits")
        return bytes.fromhex(value)[::-1]
    if fmt.kind == "time" and isinstance(value, date | datetime):
        return _encode_time(fmt, value)
    raise EncodeError(f"{code} ({fmt.kind}): cannot encode {value!r}")


def _bcd(byte: int) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise ValueError(f"{byte:02X} is not a BCD byte")
    return high * 10 + low


def _digits(raw: bytes) -> str:
    text = raw[::-1].hex()
    if not text.isdigit():
        raise ValueError("not BCD digits")
    return text


def _number(fmt: DataFormat, raw: bytes) -> int | float:
    data = bytearray(raw)
    negative = fmt.signed and bool(data[-1] & 0x80)
    if fmt.signed:
        data[-1] &= 0x7F
    value = int(_digits(bytes(data)))
    if negative:
        value = -value
    return value / 10**fmt.decimals if fmt.decimals else value


def _encode_number(fmt: DataFormat, value: int | float) -> bytes:
    digits = fmt.length * 2
    scaled = round(abs(value) * 10**fmt.decimals)
    limit = 8 * 10 ** (digits - 1) if fmt.signed else 10**digits
    if scaled >= limit:
        raise EncodeError(f"{fmt.code} ({fmt.name}): {value} does not fit")
    if value < 0 and not fmt.signed:
        raise EncodeError(f"{fmt.code} ({fmt.name}): {value} is negative")
    data = bytearray(bytes.fromhex(f"{scaled:0{digits}d}")[::-1])
    if value < 0:
        data[-1] |= 0x80
    return bytes(data)


def _time(fmt: DataFormat, raw: bytes) -> Value:
    parts: dict[str, int] = {}
    for name, byte in zip(fmt.fields, raw, strict=True):
        if name == "WM":  # A.1: weekday in D7..D5, month in D4..D0
            parts["M"] = _bcd(byte & 0x1F)
        else:
            parts[name] = _bcd(byte)
    if "Y" in parts and "D" in parts and "h" in parts:
        year, month, day = 2000 + parts["Y"], parts["M"], parts["D"]
        # The terminal's local wall clock: the protocol carries no zone, so neither do we.
        return datetime(year, month, day, parts["h"], parts["m"], parts.get("s", 0))  # noqa: DTZ001
    if "Y" in parts and "D" in parts:
        return date(2000 + parts["Y"], parts["M"], parts["D"])
    if "Y" in parts:
        return date(2000 + parts["Y"], parts["M"], 1)
    labels = {"M": "month", "D": "day", "h": "hour", "m": "minute", "s": "second"}
    return " ".join(f"{labels[name]} {parts[name]}" for name in "MDhms" if name in parts)


def _encode_time(fmt: DataFormat, value: date | datetime) -> bytes:
    moment = value if isinstance(value, datetime) else _midnight(value)
    fields = {
        "s": moment.second,
        "m": moment.minute,
        "h": moment.hour,
        "D": moment.day,
        "M": moment.month,
        "Y": moment.year - 2000,
        "WM": (moment.isoweekday() << 5) | _to_bcd(moment.month),
    }
    if not 0 <= fields["Y"] <= 99:
        raise EncodeError(f"{fmt.code}: year {moment.year} is outside 2000..2099")
    return bytes(fields[name] if name == "WM" else _to_bcd(fields[name]) for name in fmt.fields)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)  # noqa: DTZ001 - the terminal's wall clock


def _to_bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


_EXPONENTS = (4, 3, 2, 1, 0, -1, -2, -3)


def _scaled(fmt: DataFormat, raw: bytes) -> float:
    if fmt.code == "A.2":
        digits = _bcd(raw[0]) + (raw[1] & 0x0F) * 100
        if raw[1] & 0x0F > 9:
            raise ValueError("hundreds digit is not BCD")
        value = digits * 10.0 ** _EXPONENTS[raw[1] >> 5]
        return -value if raw[1] & 0x10 else value
    digits_value = int(_digits(bytes((*raw[:3], raw[3] & 0x0F))))
    value = digits_value * (1000.0 if raw[3] & 0x40 else 1.0)  # G: MWh (元) instead of kWh (厘)
    return -value if raw[3] & 0x10 else value


def _position(raw: bytes) -> float:
    """A.28: degrees, minutes and seconds (to 1/100 s) as decimal degrees, west/south negative."""
    if raw[4] & 0x0F > 9:
        raise ValueError("hundreds of degrees is not BCD")
    seconds = _bcd(raw[1]) + _bcd(raw[0]) / 100
    degrees = _bcd(raw[3]) + (raw[4] & 0x0F) * 100
    value = degrees + _bcd(raw[2]) / 60 + seconds / 3600
    return -value if raw[4] & 0x80 else value
