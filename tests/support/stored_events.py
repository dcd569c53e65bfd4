"""The event writer as tests of the terminal events see it: keeps the records and says they are
stored, or refuses (``accept``), so a test can check when a ring's pointer may move."""

from __future__ import annotations

from collections.abc import Callable

from storage.records import EventRecord


class StoredEvents:
    def __init__(self) -> None:
        self.records: list[EventRecord] = []
        self.accept = True

    def __call__(self, records: list[EventRecord], then: Callable[[bool], None]) -> None:
        if self.accept:
            self.records.extend(records)
        then(self.accept)
