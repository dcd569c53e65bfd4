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

    async def write_lines(self, lines: Sequence[str]) -> None:
        """Store lines as they are; same error contract as ``write``.

        An element may hold several newline-separated lines (the outbox passes stored rows).
        """
