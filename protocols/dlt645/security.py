"""Frames of the security command (安全认证, control code 03) and of sealed control orders.

State Grid smart meters (Q/GDW 1365 费控 meters) take relay control, meter clear and event clear
only from a master that has authenticated against the meter's ESAM:

1. identity authentication, 03 with DI ``070000FF``: operator code, ciphertext1 (8), random1 (8)
   and the dispersion factor (8) from the security module; the meter answers 83 with random2 (4)
   and its ESAM serial number (8), or C3 with a 2-byte security error word.
2. the order itself (1C, 1A, 1B) with password level ``98``: the level + 3 password bytes, the
   operator code, then the order's data encrypted and MAC'd by the security module.

The layout follows zaxai/MeterCommServer (``ZDLT645_2007.cpp``: the 03/070000FF branch of its
encoder, the 83 branch of its decoder, the 1C branch with grade 98), cited in docs/dlt645.md.
Each field a security module hands over is written to the wire low byte first, like every
multi-byte DL/T 645 field; the dataclasses hold them in the module's (printed) order.

Code 03 is also DL/T 645-1997's *reread*, which has no data field; a 03 request with data is
the 2007 security command.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from protocols.dlt645.address import Address
from protocols.dlt645.control import Control, Function
from protocols.dlt645.errors import EncodeError, UnexpectedMessage
from protocols.dlt645.frame import Frame
from protocols.dlt645.values import ValueFormat

SECURITY_FUNCTION = 0x03
IDENTITY_AUTHENTICATION_DI = 0x070000FF
SECURED_LEVEL = 0x98
"""Password level that marks an order's data as ciphertext + MAC (remote control via ESAM)."""
SEALED_FUNCTIONS = frozenset({Function.RELAY_CONTROL, Function.CLEAR_METER, Function.CLEAR_EVENTS})
"""The orders a secured meter takes only sealed."""
_OPERATOR_LENGTH = 4
_AUTH_DATA_LENGTH = 4 + 4 + 8 + 8 + 8
_AUTH_REPLY_LENGTH = 4 + 4 + 8
_CLOCK = ValueFormat("YYMMDDhhmmss")


class SecurityErrorWord(enum.IntFlag):
    """The 2-byte error word of a C3 reply (Q/GDW 1365 security error information word)."""

    OTHER = 0x0001
    REPEATED_TOP_UP = 0x0002
    ESAM_VERIFY_FAILED = 0x0004
    AUTHENTICATION_FAILED = 0x0008
    CUSTOMER_MISMATCH = 0x0010
    TOP_UP_COUNT = 0x0020
    OVER_HOARDING = 0x0040


def _field(value: bytes, length: int, what: str) -> bytes:
    if len(value) != length:
        raise EncodeError(f"{what} must be {length} bytes, got {len(value)}")
    return value


def _describe(frame: Frame) -> str:
    return f"frame C={frame.control} to/from {frame.address} data [{frame.data.hex(' ')}]"


@dataclass(frozen=True, slots=True)
class IdentityAuthRequest:
    """03 / 070000FF: prove to the meter's ESAM that the master holds the meter's key."""

    address: Address
    ciphertext: bytes
    random: bytes
    dispersion: bytes
    operator: bytes = bytes(4)
    """Operator code as sent on the wire."""

    def to_frame(self) -> Frame:
        data = (
            IDENTITY_AUTHENTICATION_DI.to_bytes(4, "little")
            + _field(self.operator, _OPERATOR_LENGTH, "operator code")
            + _field(self.ciphertext, 8, "ciphertext1")[::-1]
            + _field(self.random, 8, "random1")[::-1]
            + _field(self.dispersion, 8, "dispersion factor")[::-1]
        )
        return Frame(self.address, Control(SECURITY_FUNCTION), data)


@dataclass(frozen=True, slots=True)
class IdentityAuthResponse:
    """83 / 070000FF: the ESAM accepted; random2 and its serial key the session."""

    address: Address
    random: bytes
    esam_serial: bytes

    def to_frame(self) -> Frame:
        data = (
            IDENTITY_AUTHENTICATION_DI.to_bytes(4, "little")
            + _field(self.random, 4, "random2")[::-1]
            + _field(self.esam_serial, 8, "ESAM serial")[::-1]
        )
        return Frame(self.address, Control(SECURITY_FUNCTION, from_meter=True), data)


@dataclass(frozen=True, slots=True)
class SecurityErrorResponse:
    """C3: the ESAM refused, with the 2-byte security error word."""

    address: Address
    error: SecurityErrorWord

    def to_frame(self) -> Frame:
        control = Control(SECURITY_FUNCTION, from_meter=True, error=True)
        return Frame(self.address, control, int(self.error).to_bytes(2, "little"))


@dataclass(frozen=True, slots=True)
class SealedOrderRequest:
    """1C / 1A / 1B with password level 98: the order's data sealed by the security module."""

    address: Address
    function: Function
    sealed: bytes
    password: bytes = bytes((SECURED_LEVEL, 0, 0, 0))
    """Level 98 then the 3 password bytes, as sent on the wire."""
    operator: bytes = bytes(4)

    def to_frame(self) -> Frame:
        if self.function not in SEALED_FUNCTIONS:
            raise EncodeError(f"function {self.function:#04x} is not a sealed order")
        if _field(self.password, 4, "password")[0] != SECURED_LEVEL:
            raise EncodeError(f"sealed order: password level must be {SECURED_LEVEL:02X}")
        if not self.sealed:
            raise EncodeError("sealed order: no sealed data")
        data = self.password + _field(self.operator, 4, "operator code") + self.sealed[::-1]
        return Frame(self.address, Control(self.function), data)


def order_data(code: int, valid_until: datetime, tail: bytes = b"") -> bytes:
    """The data a sealed order carries once opened: code, 00, expiry ``YYMMDDhhmmss`` (as
    printed, high field first, the way the security module takes it), then any tail (the event
    identifier of a 1B)."""
    wall = valid_until.replace(tzinfo=None, microsecond=0)
    return bytes((code, 0x00)) + _CLOCK.encode(wall)[::-1] + tail


@dataclass(frozen=True, slots=True)
class OpenedOrder:
    """A sealed order's data after the ESAM opened it."""

    code: int
    valid_until: datetime
    tail: bytes = b""


def parse_order_data(data: bytes) -> OpenedOrder:
    if len(data) < 8 or data[1] != 0x00:
        raise UnexpectedMessage(f"sealed order: data [{data.hex(' ')}] is not code 00 + expiry")
    value = _CLOCK.decode(data[2:8][::-1])
    if not isinstance(value, datetime):
        raise UnexpectedMessage(f"sealed order: bad expiry [{data[2:8].hex(' ')}]")
    return OpenedOrder(data[0], value, data[8:])


SecurityRequest = IdentityAuthRequest | SealedOrderRequest


def is_security_request(frame: Frame) -> bool:
    """Whether a master's frame is the security command or a sealed order (not plaintext)."""
    function, data = frame.control.function, frame.data
    if function == SECURITY_FUNCTION:
        return bool(data)
    return function in SEALED_FUNCTIONS and len(data) > 8 and data[0] == SECURED_LEVEL


def parse_security_request(frame: Frame) -> SecurityRequest:
    """The request in a frame that ``is_security_request``."""
    data, address = frame.data, frame.address
    if frame.control.function == SECURITY_FUNCTION:
        di = int.from_bytes(data[:4], "little")
        if di != IDENTITY_AUTHENTICATION_DI:
            raise UnexpectedMessage(f"{_describe(frame)}: security command DI {di:08X} unknown")
        if len(data) != _AUTH_DATA_LENGTH:
            raise UnexpectedMessage(f"{_describe(frame)}: needs {_AUTH_DATA_LENGTH} data bytes")
        return IdentityAuthRequest(
            address,
            ciphertext=data[8:16][::-1],
            random=data[16:24][::-1],
            dispersion=data[24:32][::-1],
            operator=data[4:8],
        )
    return SealedOrderRequest(
        address,
        Function(frame.control.function),
        sealed=data[8:][::-1],
        password=data[0:4],
        operator=data[4:8],
    )


SecurityResponse = IdentityAuthResponse | SecurityErrorResponse


def parse_security_response(frame: Frame) -> SecurityResponse:
    """The meter's answer to an identity authentication (the head-end's side)."""
    data, address = frame.data, frame.address
    if frame.control.function != SECURITY_FUNCTION or not frame.control.from_meter:
        raise UnexpectedMessage(f"{_describe(frame)}: not a reply to the security command")
    if frame.control.error:
        if len(data) not in (1, 2):
            raise UnexpectedMessage(f"{_describe(frame)}: security error word needs 2 bytes")
        return SecurityErrorResponse(address, SecurityErrorWord(int.from_bytes(data, "little")))
    if len(data) != _AUTH_REPLY_LENGTH:
        raise UnexpectedMessage(f"{_describe(frame)}: needs {_AUTH_REPLY_LENGTH} data bytes")
    di = int.from_bytes(data[:4], "little")
    if di != IDENTITY_AUTHENTICATION_DI:
        raise UnexpectedMessage(f"{_describe(frame)}: reply for DI {di:08X}, not 070000FF")
    return IdentityAuthResponse(address, random=data[4:8][::-1], esam_serial=data[8:16][::-1])
