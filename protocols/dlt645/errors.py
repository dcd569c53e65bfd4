"""DL/T 645 errors: malformed frames from the line, bad input from us, unusable messages.

Every malformed-frame error carries the offending bytes so a bus worker can put them in its
ring buffer and logs; the hex is in the message because that is what a field engineer
compares with a serial sniffer trace.
"""

from __future__ import annotations

from protocols.errors import LocalProtocolError, ProtocolError, RemoteProtocolError


class MalformedFrame(RemoteProtocolError):
    """Bytes that start like a frame but are not one. ``raw`` holds them."""

    def __init__(self, problem: str, raw: bytes) -> None:
        self.problem = problem
        self.raw = bytes(raw)
        super().__init__(f"malformed DL/T 645 frame: {problem}: {self.raw.hex(' ')}")


class ChecksumError(MalformedFrame):
    """The checksum byte does not match the sum from the first 0x68 to the last data byte."""


class EndByteError(MalformedFrame):
    """The byte after the checksum is not 0x16."""


class LengthError(MalformedFrame):
    """The length byte announces more data than any meter may send."""


class AddressFieldError(MalformedFrame):
    """The address field holds something other than BCD digits or the 0xA wildcard."""


class UnexpectedMessage(RemoteProtocolError):
    """A well-formed frame whose contents do not fit its function code (short data, bad DI)."""


class UnsupportedFunction(RemoteProtocolError):
    """A well-formed frame with a function code this codec does not implement."""

    def __init__(self, function: int, message: str) -> None:
        self.function = function
        super().__init__(message)


class InvalidAddress(LocalProtocolError):
    """A meter address that is not 12 BCD digits (optionally ending in 'A' wildcards)."""


class EncodeError(LocalProtocolError):
    """A frame, message or value that does not fit the protocol (too long, out of range)."""


class UnknownIdentifier(LocalProtocolError, LookupError):
    """A data identifier or quantity name that is not in the catalogue."""


class CatalogueError(ProtocolError):
    """The data-identifier catalogue file is inconsistent; names the key and the file."""
