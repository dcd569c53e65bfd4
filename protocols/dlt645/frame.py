"""One DL/T 645 frame and its byte encoding (both directions, both editions).

``Frame.data`` is always the plain data field, WITHOUT the +0x33 added on the wire: the offset
is a line-coding detail that must not leak into message or value code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from protocols.dlt645.address import Address
from protocols.dlt645.control import Control
from protocols.dlt645.errors import EncodeError

START = 0x68
END = 0x16
PREAMBLE = 0xFE
DATA_OFFSET = 0x33
MAX_DATA_LENGTH = 255
"""The length byte cannot say more."""
MAX_READ_DATA_LENGTH = 200
"""DL/T 645-2007 limit for a read reply's data field; longer answers use follow-up frames."""
HEADER_LENGTH = 10
"""68 A0..A5 68 C L."""
TRAILER_LENGTH = 2
"""CS 16."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame as the application sees it: who, what, and the plain data."""

    address: Address
    control: Control
    data: bytes = b""

    def __post_init__(self) -> None:
        if len(self.data) > MAX_DATA_LENGTH:
            raise EncodeError(
                f"frame data of {len(self.data)} bytes: the length byte allows at most "
                f"{MAX_DATA_LENGTH}"
            )


def checksum(raw: bytes | bytearray | memoryview) -> int:
    """Sum of the bytes mod 256: pass everything from the first 0x68 to the last data byte."""
    return sum(raw) & 0xFF


def shift_data(data: bytes | bytearray | memoryview, offset: int) -> bytes:
    """Add (``offset=0x33``) or remove (``offset=-0x33``) the wire offset, mod 256.

    One ``bytes.translate`` over a 256-byte table: every reply on every bus passes here, and a
    Python loop per byte was a visible share of a read's CPU."""
    return bytes(data).translate(_shift_table(offset & 0xFF))


@cache
def _shift_table(offset: int) -> bytes:
    return bytes((byte + offset) & 0xFF for byte in range(256))


def encode(frame: Frame, preamble: int = 4) -> bytes:
    """The frame's wire bytes, led by ``preamble`` 0xFE wake-up bytes (0..4)."""
    if not 0 <= preamble <= 4:
        raise EncodeError(f"preamble of {preamble} bytes: DL/T 645 allows 0..4 0xFE bytes")
    body = bytearray((START,))
    body += frame.address.to_wire()
    body += bytes((START, frame.control.to_byte(), len(frame.data)))
    body += shift_data(frame.data, DATA_OFFSET)
    body += bytes((checksum(body), END))
    return bytes((PREAMBLE,)) * preamble + bytes(body)
