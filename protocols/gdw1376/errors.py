"""Q/GDW 1376.1 errors: malformed frames from the line, bad input from us, unusable messages.

As for DL/T 645, a malformed-frame error carries the offending bytes, and its message shows
them in hex: that is what a field engineer compares with the terminal's own log.
"""

from __future__ import annotations

from protocols.errors import LocalProtocolError, RemoteProtocolError


class MalformedFrame(RemoteProtocolError):
    """Bytes that start like a 1376.1 frame but are not one. ``raw`` holds them."""

    def __init__(self, problem: str, raw: bytes) -> None:
        self.problem = problem
        self.raw = bytes(raw)
        super().__init__(f"malformed Q/GDW 1376.1 frame: {problem}: {self.raw.hex(' ')}")


class ChecksumError(MalformedFrame):
    """The checksum byte does not match the sum of the user data (C through AUX)."""


class EndByteError(MalformedFrame):
    """The byte after the checksum is not 0x16."""


class LengthFieldError(MalformedFrame):
    """The two L fields differ, carry another protocol id, or announce too much data."""


class ShortUserData(MalformedFrame):
    """The user data is too short for its header, unit identifier or auxiliary fields."""


class UnexpectedMessage(RemoteProtocolError):
    """A well-formed frame whose data units do not fit their AFN and Fn (short, surplus)."""


class EncodeError(LocalProtocolError):
    """A frame, unit or value that the protocol cannot carry (out of range, too long)."""
