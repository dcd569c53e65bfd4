"""The SEQ field: time label present, first/last frame of a reply, confirm wanted, sequence.

A reply too long for one frame comes as several: FIR on the first, FIN on the last, neither on
those between; the sequence number (PSEQ/RSEQ, 0..15) counts them, so a session layer joins
replies by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.gdw1376.errors import EncodeError


@dataclass(frozen=True, slots=True)
class Seq:
    number: int = 0
    """PSEQ/RSEQ, 0..15."""
    first: bool = True
    """FIR."""
    last: bool = True
    """FIN."""
    confirm: bool = False
    """CON: the receiver must confirm this frame (AFN 00)."""
    tpv: bool = False
    """TpV: the auxiliary fields end with a time label Tp."""

    def __post_init__(self) -> None:
        if not 0 <= self.number <= 15:
            raise EncodeError(f"sequence number {self.number}: must be 0..15")

    @property
    def position(self) -> str:
        """``single``, ``first``, ``middle`` or ``last`` frame of a multi-frame reply."""
        return {
            (True, True): "single",
            (True, False): "first",
            (False, False): "middle",
            (False, True): "last",
        }[(self.first, self.last)]

    @classmethod
    def from_byte(cls, byte: int) -> Seq:
        return cls(
            number=byte & 0x0F,
            first=bool(byte & 0x40),
            last=bool(byte & 0x20),
            confirm=bool(byte & 0x10),
            tpv=bool(byte & 0x80),
        )

    def to_byte(self) -> int:
        return self.tpv << 7 | self.first << 6 | self.last << 5 | self.confirm << 4 | self.number
