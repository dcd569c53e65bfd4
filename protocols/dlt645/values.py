"""Value formats of the data identifiers ("XXXXXX.XX", "YYMMDDhhmm", ...) as codecs.

A format string from the standard's tables is parsed once into a ``ValueFormat`` that knows
its byte length and decimals, so the catalogue stays data and no DI needs its own code.
Unreadable content (invalid BCD, the all-0xFF fill meters send for unsupported items, an
impossible date) decodes to ``NotAvailable`` rather than raising: one odd register must not
fail a whole poll, and the head-end turns it into a MISSING reading with a reason.

Meter clocks carry no time zone: times decode to naive wall-clock values in the meter's own
zone, which only the head-end's configuration knows.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from typing import NamedTuple

from protocols.dlt645.errors import EncodeError


@dataclass(frozen=True, slots=True)
class NotAvailable:
    """The meter answered but the value cannot be used; ``reason`` says why."""

    reason: str


Value = int | float | str | date | time | datetime | NotAvailable
"""What one decoded item can be (``str``: ASCII items such as the asset number)."""


class Encoding(enum.StrEnum):
    BCD = "bcd"
    """Packed decimal digits, least significant byte first (almost every item)."""
    BITS = "bits"
    """Binary flags, least significant byte first (status words)."""
    ASCII = "ascii"
    """Text, last character first on the wire like every multi-byte field (asset number)."""


_NUMERIC = re.compile(r"[XN]+(?:\.[XN]+)?")
_CLOCK = re.compile(r"(?:YY|MM|DD|WW|hh|mm|ss)+")
_SIGN_BIT = 0x80
_DATE_FIELDS = frozenset({"YY", "MM", "DD"})
_TIME_FIELDS = frozenset({"hh", "mm", "ss"})


class _Shape(NamedTuple):
    numeric: bool
    digits: int
    length: int
    decimals: int


@cache
def _shape(pattern: str) -> _Shape:
    """What a pattern implies, worked out once per pattern: every decoded value asks, and a
    regex match per value was a visible share of a read's CPU."""
    digits = len(pattern.replace(".", ""))
    return _Shape(
        numeric=_NUMERIC.fullmatch(pattern) is not None,
        digits=digits,
        length=(digits + 1) // 2,
        decimals=len(pattern.partition(".")[2]),
    )


@dataclass(frozen=True, slots=True)
class ValueFormat:
    """A parsed format: numeric (``XXX.X``), clock (``YYMMDDhhmm``) or bit field."""

    pattern: str
    encoding: Encoding = Encoding.BCD
    signed: bool = False

    def __post_init__(self) -> None:
        if not (_NUMERIC.fullmatch(self.pattern) or _CLOCK.fullmatch(self.pattern)):
            raise ValueError(f"format {self.pattern!r}: neither X/N digits nor a clock pattern")
        if self.encoding is not Encoding.BCD and (self.signed or not self.is_numeric):
            raise ValueError(
                f"format {self.pattern!r}: {self.encoding.value} is unsigned X/N digits"
            )
        if self.signed and not self.is_numeric:
            raise ValueError(f"format {self.pattern!r}: only numbers can be signed")

    @property
    def is_numeric(self) -> bool:
        return _shape(self.pattern).numeric

    @property
    def digits(self) -> int:
        return _shape(self.pattern).digits

    @property
    def length(self) -> int:
        """Bytes on the wire; an odd digit count ("XXX", 1997 voltages) has a zero pad digit."""
        return _shape(self.pattern).length

    @property
    def decimals(self) -> int:
        return _shape(self.pattern).decimals

    @property
    def clock_fields(self) -> tuple[str, ...]:
        """Clock fields in wire order (the pattern is written most significant first)."""
        return tuple(reversed([self.pattern[i : i + 2] for i in range(0, len(self.pattern), 2)]))

    def decode(self, raw: bytes) -> Value:
        """The value of exactly ``length`` plain (already -0x33) bytes."""
        shape = _shape(self.pattern)
        if len(raw) != shape.length:
            raise ValueError(f"format {self.pattern}: need {shape.length} bytes, got {len(raw)}")
        if raw and raw.count(0xFF) == len(raw):
            return NotAvailable("not available: 0xFF fill")
        if self.encoding is Encoding.BITS:
            return int.from_bytes(raw, "little")
        if self.encoding is Encoding.ASCII:
            return self._decode_text(raw)
        if shape.numeric:
            return self._decode_number(raw, shape.decimals)
        return self._decode_clock(raw)

    def encode(self, value: Value) -> bytes:
        """Plain bytes for ``value``; ``NotAvailable`` gives the 0xFF fill."""
        if isinstance(value, NotAvailable):
            return b"\xff" * self.length
        if self.encoding is Encoding.BITS:
            return self._encode_bits(value)
        if self.encoding is Encoding.ASCII:
            return self._encode_text(value)
        if self.is_numeric:
            return self._encode_number(value)
        return self._encode_clock(value)

    def _decode_number(self, raw: bytes, decimals: int) -> Value:
        negative = False
        if self.signed:
            wire = bytearray(raw)
            negative = bool(wire[-1] & _SIGN_BIT)
            wire[-1] &= ~_SIGN_BIT & 0xFF
            text = wire[::-1].hex()
        else:
            text = raw[::-1].hex()
        if not text.isdigit():
            return NotAvailable(f"invalid BCD {raw.hex(' ')}")
        magnitude = int(text)
        scaled = -magnitude if negative else magnitude
        return scaled / 10**decimals if decimals else scaled

    def _encode_number(self, value: Value) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodeError(f"format {self.pattern}: {value!r} is not a number")
        scaled = round(value * 10**self.decimals)
        sign_in_top_digit = self.signed and self.digits % 2 == 0
        limit = 8 * 10 ** (self.digits - 1) if sign_in_top_digit else 10**self.digits
        if abs(scaled) >= limit or (scaled < 0 and not self.signed):
            raise EncodeError(f"format {self.pattern}: {value!r} does not fit")
        wire = bytearray(reversed(bytes.fromhex(f"{abs(scaled):0{2 * self.length}d}")))
        if scaled < 0:
            wire[-1] |= _SIGN_BIT
        return bytes(wire)

    def _encode_bits(self, value: Value) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"bit field {self.pattern}: {value!r} is not an int")
        if not 0 <= value < 1 << (8 * self.length):
            raise EncodeError(f"bit field {self.pattern}: {value!r} does not fit")
        return value.to_bytes(self.length, "little")

    def _decode_text(self, raw: bytes) -> Value:
        text = raw[::-1].rstrip(b"\x00")
        if not text.isascii() or not text.decode("ascii").isprintable():
            return NotAvailable(f"not printable ASCII: {raw.hex(' ')}")
        return text.decode("ascii")

    def _encode_text(self, value: Value) -> bytes:
        if not isinstance(value, str) or not value.isascii() or len(value) > self.length:
            raise EncodeError(f"text {self.pattern}: {value!r} is not ASCII of <= {self.length}")
        return value.encode("ascii").ljust(self.length, b"\x00")[::-1]

    def _decode_clock(self, raw: bytes) -> Value:
        text = raw.hex()
        if not text.isdigit():
            return NotAvailable(f"invalid BCD {raw.hex(' ')}")
        fields = {name: int(text[2 * i : 2 * i + 2]) for i, name in enumerate(self.clock_fields)}
        try:
            day = date(2000 + fields["YY"], fields["MM"], fields["DD"]) if "YY" in fields else None
            clock = (
                time(fields.get("hh", 0), fields.get("mm", 0), fields.get("ss", 0))
                if _TIME_FIELDS & fields.keys()
                else None
            )
        except (KeyError, ValueError):
            return NotAvailable(f"not a valid date/time: {raw.hex(' ')}")
        if day is not None and clock is not None:
            return datetime.combine(day, clock)
        if day is not None:
            return day
        assert clock is not None  # the pattern holds date or time fields
        return clock

    def _encode_clock(self, value: Value) -> bytes:
        fields = set(self.clock_fields)
        wanted: type[date | time] = (
            datetime
            if fields & _DATE_FIELDS and fields & _TIME_FIELDS
            else date
            if fields & _DATE_FIELDS
            else time
        )
        if not isinstance(value, wanted) or (wanted is date and isinstance(value, datetime)):
            raise EncodeError(f"format {self.pattern}: need a {wanted.__name__}, got {value!r}")
        parts: dict[str, int] = {}
        if isinstance(value, date):
            if not 2000 <= value.year <= 2099:
                raise EncodeError(f"format {self.pattern}: year {value.year} not 2000..2099")
            parts |= {
                "YY": value.year % 100,
                "MM": value.month,
                "DD": value.day,
                "WW": (value.weekday() + 1) % 7,
            }
        if isinstance(value, datetime | time):
            parts |= {"hh": value.hour, "mm": value.minute, "ss": value.second}
        return bytes.fromhex("".join(f"{parts[name]:02d}" for name in self.clock_fields))


@cache
def decoder_of(value_format: ValueFormat) -> Callable[[bytes], Value]:
    """``value_format.decode`` as one function, made once per format: for an unsigned BCD
    number (voltages, currents, energies: almost every value a fleet reads) a direct
    conversion with no method dispatch, falling back to ``decode`` for anything that is not
    plain digits (the 0xFF fill, invalid BCD), so every value equals ``decode``'s."""
    shape = _shape(value_format.pattern)
    if value_format.encoding is not Encoding.BCD or value_format.signed or not shape.numeric:
        return value_format.decode
    slow = value_format.decode
    length = shape.length
    if not shape.decimals:

        def whole(raw: bytes) -> Value:
            text = raw[::-1].hex()
            if len(raw) == length and text.isdigit():
                return int(text)
            return slow(raw)

        return whole
    scale: int = 10**shape.decimals

    def scaled(raw: bytes) -> Value:
        text = raw[::-1].hex()
        if len(raw) == length and text.isdigit():
            return int(text) / scale
        return slow(raw)

    return scaled
