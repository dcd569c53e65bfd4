"""The control byte: who sent the frame, whether it is an error or has follow-ups, and why.

The function codes of the two editions do not overlap except for broadcast time sync (08), so
a frame's edition can be told from its function code alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache

from protocols.dlt645.errors import EncodeError

FROM_METER = 0x80
ERROR_REPLY = 0x40
FOLLOW_UP = 0x20
FUNCTION_MASK = 0x1F


class Standard(enum.IntEnum):
    """Edition of DL/T 645: changes function codes, identifier width and error-word bits."""

    DLT645_2007 = 2007
    DLT645_1997 = 1997

    @property
    def di_length(self) -> int:
        """Bytes of a data identifier on the wire."""
        return 4 if self is Standard.DLT645_2007 else 2


class Function(enum.IntEnum):
    """Function codes (bits 0-4 of the control byte) of both editions."""

    # DL/T 645-2007
    BROADCAST_TIME = 0x08
    READ = 0x11
    READ_FOLLOW_UP = 0x12
    READ_ADDRESS = 0x13
    WRITE = 0x14
    WRITE_ADDRESS = 0x15
    FREEZE = 0x16
    CHANGE_BAUD = 0x17
    CHANGE_PASSWORD = 0x18
    CLEAR_DEMAND = 0x19
    CLEAR_METER = 0x1A
    CLEAR_EVENTS = 0x1B
    RELAY_CONTROL = 0x1C
    # DL/T 645-1997
    READ_1997 = 0x01
    READ_FOLLOW_UP_1997 = 0x02
    REREAD_1997 = 0x03
    WRITE_1997 = 0x04
    WRITE_ADDRESS_1997 = 0x0A
    CHANGE_BAUD_1997 = 0x0C
    CHANGE_PASSWORD_1997 = 0x0F
    CLEAR_DEMAND_1997 = 0x10


FUNCTIONS_1997 = frozenset(
    {
        Function.READ_1997,
        Function.READ_FOLLOW_UP_1997,
        Function.REREAD_1997,
        Function.WRITE_1997,
        Function.WRITE_ADDRESS_1997,
        Function.CHANGE_BAUD_1997,
        Function.CHANGE_PASSWORD_1997,
        Function.CLEAR_DEMAND_1997,
    }
)


@dataclass(frozen=True, slots=True)
class Control:
    """The control byte split into its fields.

    ``function`` is an int, not a ``Function``, so that a frame with an unknown code still
    decodes and the message layer can answer it with an error reply.
    """

    function: int
    from_meter: bool = False
    error: bool = False
    more: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.function <= FUNCTION_MASK:
            raise EncodeError(f"function code {self.function:#04x}: must be 0x00..0x1f")

    @classmethod
    def from_byte(cls, value: int) -> Control:
        """The fields of one control byte; frozen, so the 256 of them are made once each and
        shared (every received frame asks)."""
        if cls is Control and 0 <= value <= 0xFF:
            return _control_of(value)
        return cls(
            function=value & FUNCTION_MASK,
            from_meter=bool(value & FROM_METER),
            error=bool(value & ERROR_REPLY),
            more=bool(value & FOLLOW_UP),
        )

    def to_byte(self) -> int:
        return (
            self.function
            | (FROM_METER if self.from_meter else 0)
            | (ERROR_REPLY if self.error else 0)
            | (FOLLOW_UP if self.more else 0)
        )

    def reply(self, *, error: bool = False, more: bool = False) -> Control:
        """The control of the meter's answer to a request with this control."""
        return Control(self.function, from_meter=True, error=error, more=more)

    def __str__(self) -> str:
        return f"{self.to_byte():02X}"


def _control(value: int) -> Control:
    return Control(
        function=value & FUNCTION_MASK,
        from_meter=bool(value & FROM_METER),
        error=bool(value & ERROR_REPLY),
        more=bool(value & FOLLOW_UP),
    )


_control_of = cache(_control)
