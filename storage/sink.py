"""The one interface every store implements, and the narrower one remote stores add."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from storage.schema import Record


@runtime_checkable
class Sink(Protocol):
    """Somewhere records go. ``write`` returns only once the sink has taken responsibility."""

    async def write(self, batch: Sequence[Record]) -> None:
        """Store a batch; raises a StorageError subclass when it cannot."""

    async def aclose(self) -> None:
        """Release connections and files; the sink is unusable afterwards."""


@runtime_checkable
class LineSink(Sink, Protocol):
    """A sink that also takes pre-formatted line protocol (what the outbox keeps on disk)."""

    async def write_lines(self, chunks: Sequence[bytes]) -> None:
        """Store UTF-8 line protocol as it is; same error contract as ``write``.

        A chunk holds one or more newline-separated lines: the outbox passes its stored rows,
        and posting them without decoding or re-joining is what keeps replay at line rate.
        """


@runtime_checkable
class DeadLetterCounter(Protocol):
    """A sink that sets aside records it cannot store instead of failing the whole batch."""

    @property
    def dead_letters(self) -> int:
        """Records (or lines) moved to the sink's ``dead_letter`` table since it was opened."""
