"""One 1376.1 frame and its bytes: ``68 L L 68 C A AFN SEQ DA DT data [AUX] CS 16``.

L is 16 bits, sent twice: D15..D2 count the user data (C through AUX), D1..D0 are the protocol
id (2 for 1376.1; 1 was Q/GDW 130-2005). CS is the byte sum of the user data. ``Frame.body``
holds the data unit identifiers and data units exactly as sent: what they mean depends on AFN,
Fn and direction, which is ``messages``'s business, not the frame's.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.gdw1376.address import ADDRESS_LENGTH, Address
from protocols.gdw1376.aux import (
    EC_LENGTH,
    PW_LENGTH,
    TP_LENGTH,
    EventCounter,
    TimeLabel,
    carries_pw,
)
from protocols.gdw1376.control import Control
from protocols.gdw1376.errors import EncodeError, ShortUserData
from protocols.gdw1376.seq import Seq

START = 0x68
END = 0x16
PROTOCOL_ID = 2
"""L's two low bits for Q/GDW 1376.1."""
HEADER_LENGTH = 6
"""68 L L 68."""
TRAILER_LENGTH = 2
"""CS 16."""
FIXED_USER_DATA = 1 + ADDRESS_LENGTH + 2
"""C, A, AFN, SEQ: the user data every frame has."""
MAX_USER_DATA = 0x3FFF
"""The most L's 14 bits can count (the standard limits TCP/Ethernet frames to this)."""


@dataclass(frozen=True, slots=True)
class Frame:
    control: Control
    address: Address
    afn: int
    seq: Seq
    body: bytes = b""
    """Data unit identifiers and data units, as sent."""
    pw: bytes | None = None
    ec: EventCounter | None = None
    tp: TimeLabel | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.afn <= 0xFF:
            raise EncodeError(f"AFN {self.afn}: must be 0..255")
        wants_pw = carries_pw(self.control.up, self.afn)
        if wants_pw != (self.pw is not None):
            need = "needs" if wants_pw else "carries no"
            raise EncodeError(f"a {self._direction} AFN {self.afn:02X}H frame {need} PW")
        if self.pw is not None and len(self.pw) != PW_LENGTH:
            raise EncodeError(f"PW of {len(self.pw)} bytes: must be {PW_LENGTH}")
        if self.control.acd != (self.ec is not None):
            raise EncodeError("EC goes with, and only with, an uplink frame whose ACD is set")
        if self.seq.tpv != (self.tp is not None):
            raise EncodeError("Tp goes with, and only with, SEQ.TpV set")
        if self.user_data_length > MAX_USER_DATA:
            raise EncodeError(f"user data of {self.user_data_length} bytes: at most 16383")

    @property
    def _direction(self) -> str:
        return "uplink" if self.control.up else "downlink"

    def user_data_length_parts(self) -> tuple[int, ...]:
        return (
            FIXED_USER_DATA,
            len(self.body),
            PW_LENGTH if self.pw is not None else 0,
            EC_LENGTH if self.ec is not None else 0,
            TP_LENGTH if self.tp is not None else 0,
        )

    @property
    def user_data_length(self) -> int:
        return sum(self.user_data_length_parts())


def checksum(user_data: bytes | bytearray | memoryview) -> int:
    return sum(user_data) & 0xFF


def length_field(user_data_length: int) -> bytes:
    value = user_data_length << 2 | PROTOCOL_ID
    return bytes((value & 0xFF, value >> 8))


def encode(frame: Frame) -> bytes:
    """The frame's wire bytes."""
    user = bytearray((frame.control.to_byte(),))
    user += frame.address.to_wire()
    user += bytes((frame.afn, frame.seq.to_byte()))
    user += frame.body
    if frame.pw is not None:
        user += frame.pw
    if frame.ec is not None:
        user += frame.ec.to_wire()
    if frame.tp is not None:
        user += frame.tp.to_wire()
    length = length_field(len(user))
    return bytes((START, *length, *length, START)) + bytes(user) + bytes((checksum(user), END))


def parse_user_data(user: bytes, raw: bytes) -> Frame:
    """The frame in ``user`` (C through AUX, already checked against L and CS); ``raw`` is the
    whole frame, for errors."""
    if len(user) < FIXED_USER_DATA:
        raise ShortUserData(f"{len(user)} bytes of user data, less than C, A, AFN and SEQ", raw)
    control = Control.from_byte(user[0])
    address = Address.from_wire(user[1 : 1 + ADDRESS_LENGTH])
    afn = user[1 + ADDRESS_LENGTH]
    seq = Seq.from_byte(user[2 + ADDRESS_LENGTH])
    end = len(user)
    tp = pw = ec = None
    if seq.tpv:
        end -= TP_LENGTH
        tp = _time_label(user, end, raw)
    if control.acd:
        end -= EC_LENGTH
        ec = EventCounter.from_wire(user[end : end + EC_LENGTH]) if end >= 0 else None
    if carries_pw(control.up, afn):
        end -= PW_LENGTH
        pw = user[end : end + PW_LENGTH]
    if end < FIXED_USER_DATA:
        raise ShortUserData(
            f"{len(user)} bytes of user data cannot hold C, A, AFN, SEQ and the auxiliary "
            f"fields its C, AFN and SEQ announce",
            raw,
        )
    return Frame(control, address, afn, seq, bytes(user[FIXED_USER_DATA:end]), pw, ec, tp)


def _time_label(user: bytes, at: int, raw: bytes) -> TimeLabel | None:
    if at < FIXED_USER_DATA:
        return None  # too short: reported by the caller's length check
    try:
        return TimeLabel.from_wire(user[at : at + TP_LENGTH])
    except EncodeError as exc:
        raise ShortUserData(f"time label Tp: {exc}", raw) from None
