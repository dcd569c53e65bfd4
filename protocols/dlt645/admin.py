"""The administrative orders of DL/T 645-2007: change password (18), demand clear (19), meter
clear (1A) and event clear (1B), in plaintext (password + operator code).

Data fields (DL/T 645-2007 §7.9-7.12; the 18 layout as zaxai/MeterCommServer's encoder builds it):

- 18: DI ``04000C0n`` (the password of level n), old level + password, new level + password;
  the meter answers 98 with the new level + password.
- 19 and 1A: password, operator code.
- 1B: password, operator code, the event DI to clear (``FFFFFFFF``: every event record).

A secured meter takes 1A and 1B only sealed (``protocols.dlt645.security.SealedOrderRequest``).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.dlt645.address import Address
from protocols.dlt645.control import Control, Function
from protocols.dlt645.errors import EncodeError, UnexpectedMessage
from protocols.dlt645.frame import Frame

PASSWORD_DI_BASE = 0x04000C00
"""``04000C0n`` is the password of level n (n = 1..10 on the wire as 01..0A)."""
ALL_EVENTS = 0xFFFFFFFF


def _four(value: bytes, what: str) -> bytes:
    if len(value) != 4:
        raise EncodeError(f"{what} must be 4 bytes, got {len(value)}")
    return value


def password_di(level: int) -> int:
    if not 0 <= level <= 9:
        raise EncodeError(f"password level {level}: must be 0..9")
    return PASSWORD_DI_BASE + level + 1


@dataclass(frozen=True, slots=True)
class ChangePasswordRequest:
    """18: replace the password of ``new_password``'s level; ``password`` authorises it."""

    address: Address
    password: bytes
    new_password: bytes
    """Level byte then 3 password bytes, as sent on the wire."""

    def to_frame(self) -> Frame:
        level = _four(self.new_password, "new password")[0]
        data = (
            password_di(level).to_bytes(4, "little")
            + _four(self.password, "password")
            + self.new_password
        )
        return Frame(self.address, Control(Function.CHANGE_PASSWORD), data)


@dataclass(frozen=True, slots=True)
class ClearRequest:
    """19 demand clear, 1A meter clear or 1B event clear (``event_di`` only for 1B)."""

    address: Address
    function: Function
    password: bytes
    operator: bytes
    event_di: int = ALL_EVENTS

    def to_frame(self) -> Frame:
        if self.function not in CLEAR_FUNCTIONS:
            raise EncodeError(f"function {self.function:#04x} is not a clear order")
        data = _four(self.password, "password") + _four(self.operator, "operator code")
        if self.function is Function.CLEAR_EVENTS:
            if not 0 <= self.event_di <= ALL_EVENTS:
                raise EncodeError(f"event DI {self.event_di:#x} does not fit 4 bytes")
            data += self.event_di.to_bytes(4, "little")
        return Frame(self.address, Control(self.function), data)


CLEAR_FUNCTIONS = frozenset({Function.CLEAR_DEMAND, Function.CLEAR_METER, Function.CLEAR_EVENTS})
AdminRequest = ChangePasswordRequest | ClearRequest


def parse_admin_request(frame: Frame) -> AdminRequest:
    """The plaintext administrative order in a master's frame (18, 19, 1A, 1B)."""
    data, address, function = frame.data, frame.address, frame.control.function
    where = f"frame C={frame.control} to {address} data [{data.hex(' ')}]"
    if function == Function.CHANGE_PASSWORD:
        if len(data) != 12:
            raise UnexpectedMessage(f"{where}: change password needs 12 data bytes")
        di = int.from_bytes(data[:4], "little")
        if data[8] > 9 or di != password_di(data[8]):
            raise UnexpectedMessage(f"{where}: DI {di:08X} does not match the new level")
        return ChangePasswordRequest(address, data[4:8], data[8:12])
    if function in (Function.CLEAR_DEMAND, Function.CLEAR_METER):
        if len(data) != 8:
            raise UnexpectedMessage(f"{where}: needs 8 data bytes")
        return ClearRequest(address, Function(function), data[0:4], data[4:8])
    if function == Function.CLEAR_EVENTS:
        if len(data) != 12:
            raise UnexpectedMessage(f"{where}: event clear needs 12 data bytes")
        event_di = int.from_bytes(data[8:12], "little")
        return ClearRequest(address, Function.CLEAR_EVENTS, data[0:4], data[4:8], event_di)
    raise UnexpectedMessage(f"{where}: not an administrative order")
