"""Argument converters for argparse: each turns bad text into a message naming the value.

argparse prefixes the message with the option (``argument --address: ...``) and exits with
code 2, so a typo at the meter box is reported before any port is opened.
"""

from __future__ import annotations

import argparse
import math

from headend.config.durations import parse_duration
from protocols.dlt645 import Address, InvalidAddress

DI_WIDTHS = (4, 8)
"""Hex digits of a data identifier: 1997 uses two bytes, 2007 four."""


def meter_address(text: str) -> Address:
    """A 12-digit nameplate address (leading 'A' wildcards allowed)."""
    try:
        return Address.parse(text.strip())
    except InvalidAddress as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def data_identifier(text: str) -> str:
    """A DI in the standard's (human) order, e.g. ``00010000`` or ``0x0201ff00``, as upper-case
    hex digits; the digit count (4 or 8) is kept because it says which edition was meant."""
    digits = text.strip().removeprefix("0x").removeprefix("0X").upper()
    if len(digits) not in DI_WIDTHS or not all(c in "0123456789ABCDEF" for c in digits):
        raise argparse.ArgumentTypeError(
            f"data identifier {text!r}: need 8 hex digits (2007, e.g. 00010000) "
            "or 4 (1997, e.g. 9010)"
        )
    return digits


def duration(text: str) -> float:
    """Seconds from ``1s``, ``500ms`` or a bare number; must be positive."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"duration {text!r}: {exc}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"duration {text!r}: must be more than zero")
    return seconds


def ratio(text: str) -> float:
    """A CT or PT ratio: a positive number such as ``40`` or ``100``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ratio {text!r}: not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"ratio {text!r}: must be a positive number")
    return value


def unit_id(text: str) -> int:
    """A Modbus unit id, 1..255 (247 on serial lines; the adapter checks per target)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unit id {text!r}: not a whole number") from None
    if not 1 <= value <= 255:
        raise argparse.ArgumentTypeError(f"unit id {text!r}: must be 1..255")
    return value


def listen_address(text: str) -> str:
    """``host:port`` to serve on; port 0 lets the kernel choose (tests, demos)."""
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"listen address {text!r}: expected host:port with a port 0..65535"
        )
    return f"{host}:{int(port)}"
