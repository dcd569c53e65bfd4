"""The byte buffer under a stream decoder whose frames begin with a start byte (DL/T 645 and
Q/GDW 1376.1 both open with 0x68).

Bytes arrive in any split, frames are found by their start byte, and what lies before one is
skipped and counted (``discarded``: line quality for an operator). Consumed bytes are dropped
only now and then, so feeding byte by byte stays linear. A codec's decoder subclasses it and
adds what a frame of its protocol looks like.
"""

from __future__ import annotations

_COMPACT_AT = 4096


class StartByteBuffer:
    def __init__(self, start: int, *, uncounted: int | None = None) -> None:
        """``uncounted``: a byte skipped without counting it as discarded (DL/T 645's 0xFE
        wake-up preamble is expected, not noise)."""
        self.discarded = 0
        self._start_byte = start
        self._uncounted = uncounted
        self._buffer = bytearray()
        self._start = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes; call ``next_frame()`` until it returns None."""
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes received but not yet consumed (a partial frame, or noise not yet skipped)."""
        return len(self._buffer) - self._start

    def clear(self) -> None:
        """Forget buffered bytes (e.g. after a reconnect); they are counted as discarded."""
        self._skip(self.pending)

    def _seek_start(self) -> bool:
        """Skip to the next start byte; False if none is buffered."""
        buffer = self._buffer
        found = buffer.find(self._start_byte, self._start)
        end = len(buffer) if found < 0 else found
        if end > self._start:
            skipped = end - self._start
            if self._uncounted is not None:
                skipped -= buffer.count(self._uncounted, self._start, end)
            self.discarded += skipped
            self._start = end
        self._compact()
        return found >= 0

    def _skip(self, count: int) -> None:
        self.discarded += count
        self._start += count
        self._compact()

    def _compact(self) -> None:
        if self._start == len(self._buffer):
            self._buffer.clear()
            self._start = 0
        elif self._start >= _COMPACT_AT:
            del self._buffer[: self._start]
            self._start = 0
