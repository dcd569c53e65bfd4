"""Typed requests and replies, to and from frames, for both ends of the bus.

The head-end builds requests with ``Message.to_frame()`` and reads replies with
``parse_response``; the simulator reads requests with ``parse_request`` and answers with
replies' ``to_frame()``. The edition (2007 or 1997) is a field where the two differ and is
recognised from the function code when parsing.

Byte orders follow the standard: identifiers, addresses and clock fields go low byte first,
so broadcast time sync is ``ss mm hh DD MM YY`` (seconds first; some libraries send the year
first and meters reject it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from protocols.dlt645.address import ADDRESS_LENGTH, Address
from protocols.dlt645.admin import AdminRequest, parse_admin_request
from protocols.dlt645.control import FUNCTIONS_1997, Control, Function, Standard
from protocols.dlt645.error_word import ErrorWord, ErrorWord1997
from protocols.dlt645.errors import (
    EncodeError,
    InvalidAddress,
    UnexpectedMessage,
    UnsupportedFunction,
)
from protocols.dlt645.frame import MAX_READ_DATA_LENGTH, Frame
from protocols.dlt645.security import (
    SecurityRequest,
    is_security_request,
    parse_security_request,
)
from protocols.dlt645.values import ValueFormat

DEFAULT_PASSWORD = bytes(4)
"""Password field: level byte PA then P0..P2, as sent on the wire."""
DEFAULT_OPERATOR = bytes(4)
"""Operator code C0..C3, as sent on the wire (2007 only)."""

_CLOCK = ValueFormat("YYMMDDhhmmss")
_BAUD_BITS = {600: 0x02, 1200: 0x04, 2400: 0x08, 4800: 0x10, 9600: 0x20, 19200: 0x40}
_BAUD_RATES = {bit: baud for baud, bit in _BAUD_BITS.items()}
_EVERY = 99
"""Freeze schedule field value meaning 'every' (BCD 99)."""


class RelayAction(enum.IntEnum):
    """N1 of a relay-control (1C) request."""

    TRIP = 0x1A
    CLOSE_PERMITTED = 0x1B
    """Customer may switch on (the meter closes when the button is pressed)."""
    CLOSE_DIRECT = 0x1C
    ALARM = 0x2A
    ALARM_RELEASE = 0x2B
    KEEP_POWER = 0x3A
    KEEP_POWER_RELEASE = 0x3B


def _di_bytes(di: int, standard: Standard) -> bytes:
    width = standard.di_length
    if not 0 <= di < 1 << (8 * width):
        raise EncodeError(f"DI {di:#x} does not fit the {width} bytes of DL/T 645-{standard}")
    return di.to_bytes(width, "little")


def _secret(value: bytes, what: str) -> bytes:
    if len(value) != 4:
        raise EncodeError(f"{what} must be 4 bytes, got {len(value)}")
    return value


def _wall_clock(moment: datetime) -> datetime:
    """Meter clocks are zone-less wall time: an aware datetime contributes its wall fields."""
    return moment.replace(tzinfo=None, microsecond=0)


def _clock_bytes(moment: datetime) -> bytes:
    return _CLOCK.encode(_wall_clock(moment))


def _clock_value(raw: bytes, frame: Frame) -> datetime:
    value = _CLOCK.decode(raw)
    if not isinstance(value, datetime):
        raise UnexpectedMessage(f"{_describe(frame)}: bad date/time {raw.hex(' ')}")
    return value


def _describe(frame: Frame) -> str:
    return f"frame C={frame.control} to/from {frame.address} data [{frame.data.hex(' ')}]"


_LOAD_PROFILE_DI3 = 0x06
"""Only a load profile read carries bytes after its DI."""


# ---------------------------------------------------------------- requests (master -> meter)


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """Read one data identifier (2007: 11, 1997: 01).

    ``parameters`` follow the DI only in a 2007 load profile read (06xxxxxx: block count and
    start time, ``protocols.dlt645.load_profile``)."""

    address: Address
    di: int
    standard: Standard = Standard.DLT645_2007
    parameters: bytes = b""

    def to_frame(self) -> Frame:
        function = Function.READ if self.standard is Standard.DLT645_2007 else Function.READ_1997
        data = _di_bytes(self.di, self.standard) + self.parameters
        return Frame(self.address, Control(function), data)


@dataclass(frozen=True, slots=True)
class ReadFollowUpRequest:
    """Ask for the next part of a reply that had the follow-up bit (2007: 12, 1997: 02).

    ``seq`` (1, 2, ...) is only on the wire in 2007.
    """

    address: Address
    di: int
    seq: int = 1
    standard: Standard = Standard.DLT645_2007

    def to_frame(self) -> Frame:
        data = _di_bytes(self.di, self.standard)
        if self.standard is Standard.DLT645_1997:
            return Frame(self.address, Control(Function.READ_FOLLOW_UP_1997), data)
        if not 0 <= self.seq <= 0xFF:
            raise EncodeError(f"follow-up sequence {self.seq}: must be 0..255")
        return Frame(self.address, Control(Function.READ_FOLLOW_UP), data + bytes((self.seq,)))


@dataclass(frozen=True, slots=True)
class ReadAddressRequest:
    """Ask the only meter on the bus for its address (2007: 13, always to AA..AA)."""

    address: Address = Address.WILDCARD

    def to_frame(self) -> Frame:
        return Frame(self.address, Control(Function.READ_ADDRESS))


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """Write one data identifier (2007: 14 with operator code, 1997: 04 without)."""

    address: Address
    di: int
    payload: bytes
    password: bytes = DEFAULT_PASSWORD
    operator: bytes = DEFAULT_OPERATOR
    standard: Standard = Standard.DLT645_2007

    def to_frame(self) -> Frame:
        data = _di_bytes(self.di, self.standard) + _secret(self.password, "password")
        if self.standard is Standard.DLT645_1997:
            return Frame(self.address, Control(Function.WRITE_1997), data + self.payload)
        data += _secret(self.operator, "operator code")
        return Frame(self.address, Control(Function.WRITE), data + self.payload)


@dataclass(frozen=True, slots=True)
class WriteAddressRequest:
    """Give the only meter on the bus a new address (2007: 15, 1997: 0A)."""

    new_address: Address
    address: Address = Address.WILDCARD
    standard: Standard = Standard.DLT645_2007

    def to_frame(self) -> Frame:
        if self.new_address.is_wildcard or self.new_address.is_broadcast:
            raise EncodeError(f"new meter address {self.new_address}: must be a real address")
        function = (
            Function.WRITE_ADDRESS
            if self.standard is Standard.DLT645_2007
            else Function.WRITE_ADDRESS_1997
        )
        return Frame(self.address, Control(function), self.new_address.to_wire())


@dataclass(frozen=True, slots=True)
class TimeSyncRequest:
    """Broadcast time sync (08, both editions): ``ss mm hh DD MM YY`` on the wire, no reply.

    ``when`` is the meter's local wall-clock time; an aware datetime is used for its wall
    fields, so convert it to the meter's zone first.
    """

    when: datetime
    address: Address = Address.BROADCAST

    def to_frame(self) -> Frame:
        return Frame(self.address, Control(Function.BROADCAST_TIME), _clock_bytes(self.when))


@dataclass(frozen=True, slots=True)
class FreezeRequest:
    """Freeze now or on a schedule (2007: 16). None in a field means 'every' (BCD 99).

    All four None freezes every minute per the standard's pattern; to freeze at once, meters
    expect the all-99 pattern too, which is what a default request sends.
    """

    address: Address
    minute: int | None = None
    hour: int | None = None
    day: int | None = None
    month: int | None = None

    def to_frame(self) -> Frame:
        fields = (self.minute, self.hour, self.day, self.month)
        limits = (59, 23, 31, 12)
        for value, limit in zip(fields, limits, strict=True):
            if value is not None and not 0 <= value <= limit:
                raise EncodeError(f"freeze schedule {fields}: field {value} not 0..{limit}")
        data = bytes.fromhex("".join(f"{_EVERY if v is None else v:02d}" for v in fields))
        return Frame(self.address, Control(Function.FREEZE), data)


@dataclass(frozen=True, slots=True)
class ChangeBaudRequest:
    """Change the meter's baud rate (2007: 17, 1997: 0C) with a one-byte feature word."""

    address: Address
    baud: int
    standard: Standard = Standard.DLT645_2007

    def to_frame(self) -> Frame:
        if self.baud not in _BAUD_BITS:
            raise EncodeError(f"baud rate {self.baud}: DL/T 645 allows {sorted(_BAUD_BITS)}")
        function = (
            Function.CHANGE_BAUD
            if self.standard is Standard.DLT645_2007
            else Function.CHANGE_BAUD_1997
        )
        return Frame(self.address, Control(function), bytes((_BAUD_BITS[self.baud],)))


@dataclass(frozen=True, slots=True)
class RelayControlRequest:
    """Trip or close the supply relay (2007: 1C); the order expires at ``valid_until``."""

    address: Address
    action: RelayAction
    valid_until: datetime
    password: bytes = DEFAULT_PASSWORD
    operator: bytes = DEFAULT_OPERATOR

    def to_frame(self) -> Frame:
        data = (
            _secret(self.password, "password")
            + _secret(self.operator, "operator code")
            + bytes((self.action, 0x00))
            + _clock_bytes(self.valid_until)
        )
        return Frame(self.address, Control(Function.RELAY_CONTROL), data)


Request = (
    ReadRequest
    | ReadFollowUpRequest
    | ReadAddressRequest
    | WriteRequest
    | WriteAddressRequest
    | TimeSyncRequest
    | FreezeRequest
    | ChangeBaudRequest
    | RelayControlRequest
    | AdminRequest
    | SecurityRequest
)


# ---------------------------------------------------------------- replies (meter -> master)


@dataclass(frozen=True, slots=True)
class ReadResponse:
    """Data for a read (2007: 91/B1; 1997: 81/A1) or a follow-up read (92/B2; 82/A2).

    ``more`` sets the follow-up bit: the master should ask for the next part.
    ``seq`` is only on the wire for 2007 follow-up replies. ``long`` lets a 2007 reply carry
    up to 255 data bytes, as some meters do, instead of the standard's 200.
    """

    address: Address
    di: int
    payload: bytes
    more: bool = False
    follow_up: bool = False
    seq: int = 0
    standard: Standard = Standard.DLT645_2007
    long: bool = False

    def to_frame(self) -> Frame:
        data = _di_bytes(self.di, self.standard) + self.payload
        if self.standard is Standard.DLT645_2007:
            function = Function.READ_FOLLOW_UP if self.follow_up else Function.READ
            if self.follow_up:
                if not 0 <= self.seq <= 0xFF:
                    raise EncodeError(f"follow-up sequence {self.seq}: must be 0..255")
                data += bytes((self.seq,))
            if len(data) > MAX_READ_DATA_LENGTH and not self.long:
                raise EncodeError(
                    f"read reply for DI {self.di:08X}: {len(data)} data bytes exceed "
                    f"{MAX_READ_DATA_LENGTH}; split it with follow-up frames"
                )
        else:
            function = Function.READ_FOLLOW_UP_1997 if self.follow_up else Function.READ_1997
        return Frame(self.address, Control(function, from_meter=True, more=self.more), data)


@dataclass(frozen=True, slots=True)
class ReadAddressResponse:
    """The meter's address (2007: 93); also in the frame's address field."""

    address: Address

    def to_frame(self) -> Frame:
        control = Control(Function.READ_ADDRESS, from_meter=True)
        return Frame(self.address, control, self.address.to_wire())


@dataclass(frozen=True, slots=True)
class AckResponse:
    """A normal reply that only confirms (write, write address, freeze, relay control...).

    ``data`` is whatever the reply carries (the new baud feature word for 17, else empty).
    """

    address: Address
    function: int
    data: bytes = b""

    def to_frame(self) -> Frame:
        return Frame(self.address, Control(self.function, from_meter=True), self.data)


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """The meter refused (control | 0xC0) with an error word."""

    address: Address
    function: int
    error: int

    @property
    def standard(self) -> Standard:
        if self.function in FUNCTIONS_1997:
            return Standard.DLT645_1997
        return Standard.DLT645_2007

    @property
    def flags(self) -> ErrorWord | ErrorWord1997:
        """The error word as named flags of the reply's edition."""
        if self.standard is Standard.DLT645_1997:
            return ErrorWord1997(self.error)
        return ErrorWord(self.error)

    def to_frame(self) -> Frame:
        if not 0 <= self.error <= 0xFF:
            raise EncodeError(f"error word {self.error}: must be one byte")
        control = Control(self.function, from_meter=True, error=True)
        return Frame(self.address, control, bytes((self.error,)))


Response = ReadResponse | ReadAddressResponse | AckResponse | ErrorResponse
Message = Request | Response


def read_request(address: Address, di: int, standard: Standard = Standard.DLT645_2007) -> Frame:
    """The frame reading ``di`` from ``address``: the head-end's most common request."""
    return ReadRequest(address, di, standard).to_frame()


def read_response(
    address: Address,
    di: int,
    payload: bytes,
    more: bool = False,
    standard: Standard = Standard.DLT645_2007,
) -> Frame:
    """The frame answering a read: the simulator's most common reply."""
    return ReadResponse(address, di, payload, more=more, standard=standard).to_frame()


# ---------------------------------------------------------------- parsing


def parse_request(frame: Frame) -> Request:
    """The request in a frame from the master (the simulator's entry point).

    Raises ``UnexpectedMessage`` for a reply or contents that do not fit the function, and
    ``UnsupportedFunction`` for functions we do not implement (answer those with an error).
    """
    if frame.control.from_meter:
        raise UnexpectedMessage(f"{_describe(frame)}: a reply where a request was expected")
    function, data, address = frame.control.function, frame.data, frame.address
    standard = Standard.DLT645_1997 if function in FUNCTIONS_1997 else Standard.DLT645_2007
    width = standard.di_length

    def need(length: int, *, at_least: bool = False) -> None:
        if len(data) < length if at_least else len(data) != length:
            size = f"at least {length}" if at_least else str(length)
            raise UnexpectedMessage(f"{_describe(frame)}: needs {size} data bytes")

    def di() -> int:
        return int.from_bytes(data[:width], "little")

    match function:
        case Function.READ:
            if len(data) <= width or data[width - 1] != _LOAD_PROFILE_DI3:
                need(width)
            return ReadRequest(address, di(), standard, bytes(data[width:]))
        case Function.READ_1997:
            need(width)
            return ReadRequest(address, di(), standard)
        case Function.READ_FOLLOW_UP:
            need(width + 1)
            return ReadFollowUpRequest(address, di(), data[width], standard)
        case Function.READ_FOLLOW_UP_1997:
            need(width)
            return ReadFollowUpRequest(address, di(), 0, standard)
        case Function.READ_ADDRESS:
            need(0)
            return ReadAddressRequest(address)
        case Function.WRITE:
            need(width + 8, at_least=True)
            password, operator = data[width : width + 4], data[width + 4 : width + 8]
            return WriteRequest(address, di(), data[width + 8 :], password, operator)
        case Function.WRITE_1997:
            need(width + 4, at_least=True)
            return WriteRequest(
                address, di(), data[width + 4 :], data[width : width + 4], standard=standard
            )
        case Function.WRITE_ADDRESS | Function.WRITE_ADDRESS_1997:
            need(ADDRESS_LENGTH)
            return WriteAddressRequest(_address_in(data, frame), address, standard)
        case Function.BROADCAST_TIME:
            need(6)
            return TimeSyncRequest(_clock_value(data, frame), address)
        case Function.FREEZE:
            need(4)
            return _parse_freeze(frame)
        case Function.CHANGE_BAUD | Function.CHANGE_BAUD_1997:
            need(1)
            if data[0] not in _BAUD_RATES:
                raise UnexpectedMessage(f"{_describe(frame)}: unknown baud feature word")
            return ChangeBaudRequest(address, _BAUD_RATES[data[0]], standard)
        case Function.CHANGE_PASSWORD | Function.CLEAR_DEMAND:
            return parse_admin_request(frame)
        case Function.CLEAR_METER | Function.CLEAR_EVENTS:
            if is_security_request(frame):
                return parse_security_request(frame)
            return parse_admin_request(frame)
        case Function.REREAD_1997 if data:
            return parse_security_request(frame)
        case Function.RELAY_CONTROL:
            if is_security_request(frame):
                return parse_security_request(frame)
            need(16)
            try:
                action = RelayAction(data[8])
            except ValueError:
                raise UnexpectedMessage(f"{_describe(frame)}: unknown relay action") from None
            return RelayControlRequest(
                address, action, _clock_value(data[10:16], frame), data[0:4], data[4:8]
            )
    raise UnsupportedFunction(function, f"{_describe(frame)}: function not supported")


def parse_response(frame: Frame) -> Response:
    """The reply in a frame from a meter (the head-end's entry point)."""
    control, data, address = frame.control, frame.data, frame.address
    if not control.from_meter:
        raise UnexpectedMessage(f"{_describe(frame)}: a request where a reply was expected")
    function = control.function
    if control.error:
        if not data:
            raise UnexpectedMessage(f"{_describe(frame)}: error reply without an error word")
        return ErrorResponse(address, function, data[0])
    standard = Standard.DLT645_1997 if function in FUNCTIONS_1997 else Standard.DLT645_2007
    width = standard.di_length
    match function:
        case Function.READ | Function.READ_1997 | Function.READ_FOLLOW_UP_1997:
            if len(data) < width:
                raise UnexpectedMessage(f"{_describe(frame)}: read reply without identifier")
            return ReadResponse(
                address,
                int.from_bytes(data[:width], "little"),
                data[width:],
                more=control.more,
                follow_up=function == Function.READ_FOLLOW_UP_1997,
                standard=standard,
            )
        case Function.READ_FOLLOW_UP:
            if len(data) < width + 1:
                raise UnexpectedMessage(f"{_describe(frame)}: follow-up reply too short")
            return ReadResponse(
                address,
                int.from_bytes(data[:width], "little"),
                data[width:-1],
                more=control.more,
                follow_up=True,
                seq=data[-1],
                standard=standard,
            )
        case Function.READ_ADDRESS:
            if len(data) != ADDRESS_LENGTH:
                raise UnexpectedMessage(f"{_describe(frame)}: address reply needs 6 bytes")
            return ReadAddressResponse(_address_in(data, frame))
    if function in Function.__members__.values():
        return AckResponse(address, function, data)
    raise UnsupportedFunction(function, f"{_describe(frame)}: function not supported")


def _address_in(data: bytes, frame: Frame) -> Address:
    try:
        return Address.from_wire(data)
    except InvalidAddress as exc:
        raise UnexpectedMessage(f"{_describe(frame)}: {exc}") from None


def _parse_freeze(frame: Frame) -> FreezeRequest:
    text = frame.data.hex()
    if not text.isdigit():
        raise UnexpectedMessage(f"{_describe(frame)}: freeze schedule is not BCD")
    values = [int(text[i : i + 2]) for i in range(0, 8, 2)]
    minute, hour, day, month = (None if value == _EVERY else value for value in values)
    return FreezeRequest(frame.address, minute, hour, day, month)


__all__ = [
    "DEFAULT_OPERATOR",
    "DEFAULT_PASSWORD",
    "AckResponse",
    "ChangeBaudRequest",
    "ErrorResponse",
    "FreezeRequest",
    "Message",
    "ReadAddressRequest",
    "ReadAddressResponse",
    "ReadFollowUpRequest",
    "ReadRequest",
    "ReadResponse",
    "RelayAction",
    "RelayControlRequest",
    "Request",
    "Response",
    "TimeSyncRequest",
    "WriteAddressRequest",
    "WriteRequest",
    "parse_request",
    "parse_response",
    "read_request",
    "read_response",
]
