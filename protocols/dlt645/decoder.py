"""Stream decoder: bytes from a serial line or DTU socket in, frames out.

A frame starts at a 0x68 whose seventh following byte is 0x68 too; anything else before it
(wake-up 0xFE bytes, line noise, echoes of half frames) is skipped. A header that is found but
followed by a bad length, checksum or end byte raises a ``MalformedFrame``; by then the decoder
has already moved one byte past that 0x68, so the caller just keeps calling ``next_frame()``
and a good frame hidden behind the bad one is still found. While a candidate frame is
incomplete, a complete valid frame further on wins: a stray 0x68 must not hold a real reply
back until the request times out.
"""

from __future__ import annotations

from protocols.dlt645.address import ADDRESS_LENGTH, Address
from protocols.dlt645.control import Control
from protocols.dlt645.errors import (
    AddressFieldError,
    ChecksumError,
    EndByteError,
    InvalidAddress,
    LengthError,
)
from protocols.dlt645.frame import (
    DATA_OFFSET,
    END,
    HEADER_LENGTH,
    MAX_DATA_LENGTH,
    MAX_READ_DATA_LENGTH,
    PREAMBLE,
    START,
    TRAILER_LENGTH,
    Frame,
    checksum,
    shift_data,
)
from protocols.errors import LocalProtocolError
from protocols.start_byte_buffer import StartByteBuffer

_SECOND_START = 1 + ADDRESS_LENGTH


class FrameDecoder(StartByteBuffer):
    """Incremental, sans-IO frame decoder.

    ``discarded`` counts bytes thrown away that were neither wake-up 0xFE bytes nor part of a
    good frame (noise, bad frames): the bus worker reports it as line quality.
    ``max_data_length`` bounds the length byte; a larger one is treated as a bad frame at once
    instead of waiting for up to 255 bytes that will never form a frame.
    """

    def __init__(self, max_data_length: int = MAX_READ_DATA_LENGTH) -> None:
        if not 0 <= max_data_length <= MAX_DATA_LENGTH:
            raise LocalProtocolError(
                f"max_data_length {max_data_length}: must be 0..{MAX_DATA_LENGTH}"
            )
        self.max_data_length = max_data_length
        super().__init__(START, uncounted=PREAMBLE)

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
            if buffer[start + _SECOND_START] != START:
                self._skip(1)
                continue
            length = buffer[start + HEADER_LENGTH - 1]
            if length > self.max_data_length:
                raw = bytes(buffer[start : start + HEADER_LENGTH])
                self._skip(1)
                raise LengthError(
                    f"length byte {length} exceeds the limit of {self.max_data_length}", raw
                )
            total = HEADER_LENGTH + length + TRAILER_LENGTH
            if len(buffer) - start < total:
                later = self._later_complete_frame()
                if later is None:
                    return None
                self._skip(later - start)
                continue
            return self._take(total)

    def take_whole(self, head: bytes) -> bytes | None:
        """The usual reply, decoded without the general search: when the buffered bytes are
        wake-up 0xFE bytes and then exactly one complete, valid frame starting with ``head``
        (0x68, address, 0x68, control), consume them and return the frame's plain data field.

        Anything else (noise, echoes, several or partial frames, a bad length, checksum or end
        byte) returns None and consumes nothing, so ``next_frame`` then applies every rule.
        """
        buffer = self._buffer
        size = len(buffer)
        start = self._start
        while start < size and buffer[start] == PREAMBLE:
            start += 1
        if size - start < HEADER_LENGTH or not buffer.startswith(head, start):
            return None
        length = buffer[start + HEADER_LENGTH - 1]
        body_end = start + HEADER_LENGTH + length
        if length > self.max_data_length or body_end + TRAILER_LENGTH != size:
            return None
        if buffer[body_end + 1] != END or buffer[body_end] != checksum(buffer[start:body_end]):
            return None
        data = shift_data(buffer[start + HEADER_LENGTH : body_end], -DATA_OFFSET)
        buffer.clear()
        self._start = 0
        return data

    def _later_complete_frame(self) -> int | None:
        """Where a complete, valid frame starts after the current (incomplete) candidate.

        A stray 0x68 seven bytes before a real frame's start looks like a header announcing
        data that never comes; without this look-ahead the real reply would sit in the buffer
        until the request times out.
        """
        buffer = self._buffer
        position = buffer.find(START, self._start + 1)
        while position >= 0:
            if self._is_complete_frame(position):
                return position
            position = buffer.find(START, position + 1)
        return None

    def _is_complete_frame(self, position: int) -> bool:
        buffer = self._buffer
        if len(buffer) - position < HEADER_LENGTH or buffer[position + _SECOND_START] != START:
            return False
        length = buffer[position + HEADER_LENGTH - 1]
        body_end = position + HEADER_LENGTH + length
        return (
            length <= self.max_data_length
            and body_end + TRAILER_LENGTH <= len(buffer)
            and buffer[body_end + 1] == END
            and buffer[body_end] == checksum(memoryview(buffer)[position:body_end])
        )

    def _take(self, total: int) -> Frame:
        start = self._start
        raw = bytes(self._buffer[start : start + total])
        body_end = total - TRAILER_LENGTH
        if raw[-1] != END:
            self._skip(1)
            raise EndByteError(f"end byte {raw[-1]:02X} instead of {END:02X}", raw)
        expected = checksum(raw[:body_end])
        if raw[body_end] != expected:
            self._skip(1)
            raise ChecksumError(f"checksum {raw[body_end]:02X}, computed {expected:02X}", raw)
        try:
            address = Address.from_wire(raw[1:_SECOND_START])
        except InvalidAddress as exc:
            self._skip(1)
            raise AddressFieldError(str(exc), raw) from None
        self._start += total
        self._compact()
        return Frame(
            address=address,
            control=Control.from_byte(raw[HEADER_LENGTH - 2]),
            data=shift_data(raw[HEADER_LENGTH:body_end], -DATA_OFFSET),
        )
