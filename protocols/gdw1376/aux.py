"""The auxiliary fields (AUX) after the data units: PW, EC and Tp.

Which of them a frame carries is not announced by a length, so the decoder must know the rule
(section 4.3.4.6): PW (16 bytes, message authentication) on downlink frames of the AFNs that
change the terminal (reset, set parameters, control, authentication, file transfer,
forwarding); EC (2 bytes, event counters) on uplink frames whose C field has ACD set; Tp (6
bytes) last, whenever SEQ has TpV set.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.gdw1376.errors import EncodeError

PW_LENGTH = 16
EC_LENGTH = 2
TP_LENGTH = 6
PW_AFNS = frozenset({0x01, 0x04, 0x05, 0x06, 0x0F, 0x10})
"""Downlink AFNs that carry PW: reset, set parameters, control, authentication, file
transfer, data forwarding."""


def carries_pw(up: bool, afn: int) -> bool:
    return not up and afn in PW_AFNS


@dataclass(frozen=True, slots=True)
class EventCounter:
    """EC: the terminal's counters of important and normal events (each 0..255, wrapping)."""

    important: int
    normal: int

    @classmethod
    def from_wire(cls, raw: bytes | bytearray | memoryview) -> EventCounter:
        return cls(raw[0], raw[1])

    def to_wire(self) -> bytes:
        return bytes((self.important & 0xFF, self.normal & 0xFF))


@dataclass(frozen=True, slots=True)
class TimeLabel:
    """Tp: the primary station's frame counter, when it sent the frame, how late it may act.

    The send time is day, hour, minute, second only (A.16): whoever checks the delay knows
    the month. ``delay_minutes`` 0 means the frame never expires.
    """

    pfc: int
    day: int
    hour: int
    minute: int
    second: int
    delay_minutes: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.pfc <= 255 or not 0 <= self.delay_minutes <= 255:
            raise EncodeError(f"time label {self}: PFC and delay must be 0..255")
        if not (1 <= self.day <= 31 and self.hour < 24 and self.minute < 60 and self.second < 60):
            raise EncodeError(f"time label {self}: not a day and time of day")

    @classmethod
    def from_wire(cls, raw: bytes | bytearray | memoryview) -> TimeLabel:
        second, minute, hour, day = (_bcd(byte) for byte in raw[1:5])
        return cls(raw[0], day, hour, minute, second, raw[5])

    def to_wire(self) -> bytes:
        fields = (self.second, self.minute, self.hour, self.day)
        return bytes((self.pfc, *(_to_bcd(value) for value in fields), self.delay_minutes))

    def __str__(self) -> str:
        return (
            f"PFC {self.pfc}, sent day {self.day} {self.hour:02d}:{self.minute:02d}:"
            f"{self.second:02d}, delay {self.delay_minutes} min"
        )


def _bcd(byte: int) -> int:
    return (byte >> 4) * 10 + (byte & 0x0F)


def _to_bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10
