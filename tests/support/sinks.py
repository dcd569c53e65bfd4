"""A sink that keeps what it is given: for tests of what reaches storage, and in what order."""

from __future__ import annotations

from collections.abc import Sequence

from storage.schema import Record


class ListSink:
    def __init__(self) -> None:
        self.written: list[Record] = []

    async def write(self, batch: Sequence[Record]) -> None:
        self.written.extend(batch)

    async def aclose(self) -> None:
        return None
