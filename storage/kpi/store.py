"""``<data-dir>/kpi.sqlite``: every meter-day outcome the KPIs were computed from, kept.

Why keep them when they are derived from the stored frozen values: the figures of a past day
must not change because the fleet changed (a meter removed from the fleet file or the archive
stays due on the days it was due), nor because old points were pruned from the store. Each
computation merges what the store says now with what was kept, meter by meter, the better
outcome winning (a value once collected stays collected), and writes the result back in one
transaction. WAL and ``synchronous=FULL`` as the archive: a figure that was answered is on disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Final

from storage.durable_file import DurableFile, connect_versioned
from storage.errors import KpiStoreError
from storage.kpi.outcomes import MeterDay, MeterDue, Outcome, better

KPI_FILE: Final = "kpi.sqlite"
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meter_days (
    day TEXT NOT NULL,
    meter TEXT NOT NULL,
    terminal TEXT NOT NULL,
    channel TEXT NOT NULL,
    transformer TEXT NOT NULL,
    building TEXT NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (day, meter)
) WITHOUT ROWID;
"""


class KpiStore(DurableFile):
    """Open with ``KpiStore.open(path)``; use as a context manager or ``close()``."""

    @classmethod
    def open(cls, path: Path | str) -> KpiStore:
        where = Path(path)
        db = connect_versioned(where, _SCHEMA, SCHEMA_VERSION, what="KPI file", error=KpiStoreError)
        return cls(db, where)

    def kept(self, day: date) -> list[MeterDay]:
        """The meter-days kept for ``day``, by meter."""
        rows = self._db.execute(
            "SELECT meter, terminal, channel, transformer, building, outcome FROM meter_days "
            "WHERE day = ? ORDER BY meter",
            (day.isoformat(),),
        )
        return [_meter_day(day, row) for row in rows]

    def merge(self, day: date, computed: Sequence[MeterDay]) -> list[MeterDay]:
        """Merge ``computed`` into the kept meter-days of ``day``; returns all of them, by meter.

        A meter in both keeps the better outcome and the current position; one only kept (no
        longer due) stays as it was.
        """
        try:
            return self._merge(day, computed)
        except sqlite3.Error as exc:
            raise KpiStoreError(f"{self.path}: cannot keep the KPIs of {day}: {exc}") from exc

    def _merge(self, day: date, computed: Sequence[MeterDay]) -> list[MeterDay]:
        with self._transaction() as db:
            kept = {item.due.meter: item for item in self.kept(day)}
            merged = dict(kept)
            for item in computed:
                if item.day != day:
                    raise ValueError(f"meter-day of {item.day} merged into {day}")
                old = kept.get(item.due.meter)
                outcome = item.outcome if old is None else better(item.outcome, old.outcome)
                merged[item.due.meter] = MeterDay(day, item.due, outcome)
            db.executemany(
                "INSERT OR REPLACE INTO meter_days VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        day.isoformat(),
                        item.due.meter,
                        item.due.terminal,
                        item.due.channel,
                        item.due.transformer,
                        item.due.building,
                        item.outcome.value,
                    )
                    for item in merged.values()
                ],
            )
        return [merged[meter] for meter in sorted(merged)]


def _meter_day(day: date, row: tuple[str, str, str, str, str, str]) -> MeterDay:
    meter, terminal, channel, transformer, building, outcome = row
    try:
        kind = Outcome(outcome)
    except ValueError:
        raise KpiStoreError(
            f"KPI file: meter {meter} on {day}: unknown outcome {outcome!r}"
        ) from None
    return MeterDay(day, MeterDue(meter, terminal, channel, transformer, building), kind)
