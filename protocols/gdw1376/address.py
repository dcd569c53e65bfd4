"""The A field: region code, terminal address, master address and group flag (5 bytes).

The region code (A1, 行政区划码) is printed the way terminals show it, four digits high byte
first (wire ``49 24`` is region ``2449``). It is meant to be BCD, but terminals in the field
carry hex digits too, so decoding keeps any hex digit rather than refusing the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.gdw1376.errors import EncodeError

ADDRESS_LENGTH = 5
BROADCAST_TERMINAL = 0xFFFF
"""With the group flag set, A2 = FFFFH addresses every terminal (system broadcast)."""


@dataclass(frozen=True, slots=True)
class Address:
    region: str
    """A1, four hex digits as printed (``"1100"``)."""
    terminal: int
    """A2, 1..65535 (0 is invalid on the line; FFFFH with ``group`` is broadcast)."""
    master: int = 0
    """MSA, the master station address 0..127 (0: the terminal started the exchange)."""
    group: bool = False
    """A3 D0: ``terminal`` is a group address."""

    def __post_init__(self) -> None:
        if len(self.region) != 4 or any(c not in "0123456789abcdefABCDEF" for c in self.region):
            raise EncodeError(f"region code {self.region!r}: expected four hex digits")
        if not 0 <= self.terminal <= 0xFFFF:
            raise EncodeError(f"terminal address {self.terminal}: must be 0..65535")
        if not 0 <= self.master <= 127:
            raise EncodeError(f"master address {self.master}: must be 0..127")

    @classmethod
    def from_wire(cls, raw: bytes | bytearray | memoryview) -> Address:
        region = f"{raw[1]:02X}{raw[0]:02X}"
        return cls(region, raw[2] | raw[3] << 8, raw[4] >> 1, bool(raw[4] & 1))

    def to_wire(self) -> bytes:
        region = int(self.region, 16)
        return bytes(
            (
                region & 0xFF,
                region >> 8,
                self.terminal & 0xFF,
                self.terminal >> 8,
                self.master << 1 | int(self.group),
            )
        )

    def with_master(self, master: int) -> Address:
        """The same terminal, addressed by (or answering) master station ``master``."""
        return Address(self.region, self.terminal, master, self.group)

    def __str__(self) -> str:
        return f"{self.region}-{self.terminal:05d}"
