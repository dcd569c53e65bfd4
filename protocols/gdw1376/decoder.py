"""Stream decoder: bytes from a terminal's TCP session in, frames out.

A frame starts at a 0x68 followed by two equal L fields with protocol id 2 and a second
0x68; anything before it (a DTU's registration string, noise, the tail of a broken frame) is
skipped and counted. A header followed by a bad checksum, end byte or user data raises a
``MalformedFrame``; the decoder has then moved one byte past that 0x68, so calling
``next_frame()`` again resyncs on the next frame. While a candidate is incomplete, a complete
valid frame further on wins, so a stray 0x68 cannot hold a real frame back until a timeout.
"""

from __future__ import annotations

from protocols.gdw1376.errors import (
    ChecksumError,
    EncodeError,
    EndByteError,
    LengthFieldError,
)
from protocols.gdw1376.frame import (
    END,
    HEADER_LENGTH,
    MAX_USER_DATA,
    PROTOCOL_ID,
    START,
    TRAILER_LENGTH,
    Frame,
    checksum,
    parse_user_data,
)
from protocols.start_byte_buffer import StartByteBuffer


class FrameDecoder(StartByteBuffer):
    """Incremental, sans-IO frame decoder (both directions: master and terminal).

    ``discarded`` counts bytes thrown away (noise, bad frames). ``max_user_data`` bounds L: a
    larger one is a bad frame at once instead of a wait for bytes that never come.
    """

    def __init__(self, max_user_data: int = MAX_USER_DATA) -> None:
        if not 0 < max_user_data <= MAX_USER_DATA:
            raise EncodeError(f"max_user_data {max_user_data}: must be 1..{MAX_USER_DATA}")
        self.max_user_data = max_user_data
        super().__init__(START)

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None if more bytes are needed.

        Raises a ``MalformedFrame`` subclass for a bad frame; calling again continues after it.
        """
        while True:
            if not self._seek_start():
                return None
            buffer, start = self._buffer, self._start
            if len(buffer) - start < HEADER_LENGTH:
                return None
            header = bytes(buffer[start : start + HEADER_LENGTH])
            if header[5] != START:
                self._skip(1)
                continue
            problem = self._header_problem(header)
            if problem is not None:
                self._skip(1)
                raise LengthFieldError(problem, header)
            total = HEADER_LENGTH + _user_length(header) + TRAILER_LENGTH
            if len(buffer) - start < total:
                later = self._later_complete_frame()
                if later is None:
                    return None
                self._skip(later - start)
                continue
            return self._take(total)

    def _header_problem(self, header: bytes) -> str | None:
        if header[1:3] != header[3:5]:
            return f"the two L fields differ ({header[1:3].hex()} and {header[3:5].hex()})"
        protocol = header[1] & 0x03
        if protocol != PROTOCOL_ID:
            return f"protocol id {protocol} in L, not {PROTOCOL_ID} (Q/GDW 1376.1)"
        length = _user_length(header)
        if length > self.max_user_data:
            return f"L announces {length} bytes of user data, more than {self.max_user_data}"
        return None

    def _later_complete_frame(self) -> int | None:
        buffer = self._buffer
        position = buffer.find(START, self._start + 1)
        while position >= 0:
            if self._is_complete_frame(position):
                return position
            position = buffer.find(START, position + 1)
        return None

    def _is_complete_frame(self, position: int) -> bool:
        buffer = self._buffer
        if len(buffer) - position < HEADER_LENGTH:
            return False
        header = bytes(buffer[position : position + HEADER_LENGTH])
        if header[5] != START or self._header_problem(header) is not None:
            return False
        body_end = position + HEADER_LENGTH + _user_length(header)
        return (
            body_end + TRAILER_LENGTH <= len(buffer)
            and buffer[body_end + 1] == END
            and buffer[body_end]
            == checksum(memoryview(buffer)[position + HEADER_LENGTH : body_end])
        )

    def _take(self, total: int) -> Frame:
        start = self._start
        raw = bytes(self._buffer[start : start + total])
        body_end = total - TRAILER_LENGTH
        if raw[-1] != END:
            self._skip(1)
            raise EndByteError(f"end byte {raw[-1]:02X} instead of {END:02X}", raw)
        expected = checksum(raw[HEADER_LENGTH:body_end])
        if raw[body_end] != expected:
            self._skip(1)
            raise ChecksumError(f"checksum {raw[body_end]:02X}, computed {expected:02X}", raw)
        try:
            frame = parse_user_data(raw[HEADER_LENGTH:body_end], raw)
        except Exception:
            self._skip(1)
            raise
        self._start += total
        self._compact()
        return frame


def _user_length(header: bytes) -> int:
    return (header[1] | header[2] << 8) >> 2


def decode_frame(raw: bytes) -> Frame:
    """Exactly one frame in ``raw`` (the CLI's and tests' entry): anything before or after it,
    or an incomplete frame, is a ``MalformedFrame``."""
    from protocols.gdw1376.errors import MalformedFrame

    decoder = FrameDecoder()
    decoder.feed(raw)
    frame = decoder.next_frame()
    if frame is None:
        raise MalformedFrame("incomplete frame (or no 68 L L 68 header)", raw)
    if decoder.discarded or decoder.pending:
        raise MalformedFrame("bytes before or after the frame", raw)
    return frame
