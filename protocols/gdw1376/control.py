"""The C field: direction, primary station flag, FCB/ACD, FCV and the function code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class PrimaryFunction(IntEnum):
    """Function codes of a frame from the primary station (PRM = 1)."""

    RESET = 1
    USER_DATA = 4
    """Send / no reply (a terminal's pushed report)."""
    LINK_TEST = 9
    REQUEST_CLASS_1 = 10
    REQUEST_CLASS_2 = 11


class SecondaryFunction(IntEnum):
    """Function codes of a frame from the secondary station (PRM = 0)."""

    CONFIRM = 0
    USER_DATA = 8
    NO_DATA = 9
    """Deny: no data for what was asked."""
    LINK_STATUS = 11


@dataclass(frozen=True, slots=True)
class Control:
    up: bool
    """DIR: True for terminal to master (uplink)."""
    primary: bool
    """PRM: True if the sender started the exchange."""
    function: int
    """D3..D0, see ``PrimaryFunction`` / ``SecondaryFunction``."""
    fcb_acd: bool = False
    """D5: FCB on a downlink frame; ACD (events are waiting, EC follows) on an uplink one."""
    fcv: bool = False
    """D4: the FCB bit is valid (downlink only)."""

    @property
    def acd(self) -> bool:
        return self.up and self.fcb_acd

    @property
    def function_name(self) -> str:
        table: type[IntEnum] = PrimaryFunction if self.primary else SecondaryFunction
        try:
            return table(self.function).name.lower()
        except ValueError:
            return "reserved"

    @classmethod
    def from_byte(cls, byte: int) -> Control:
        return cls(
            up=bool(byte & 0x80),
            primary=bool(byte & 0x40),
            function=byte & 0x0F,
            fcb_acd=bool(byte & 0x20),
            fcv=bool(byte & 0x10),
        )

    def to_byte(self) -> int:
        return (
            self.up << 7
            | self.primary << 6
            | self.fcb_acd << 5
            | self.fcv << 4
            | (self.function & 0x0F)
        )
