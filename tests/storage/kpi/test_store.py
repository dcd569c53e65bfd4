"""kpi.sqlite: meter-days kept across restarts, outcomes only improving, removed meters kept."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from storage.errors import KpiStoreError
from storage.kpi.outcomes import MeterDay, MeterDue, Outcome
from storage.kpi.store import KpiStore

DAY = date(2026, 7, 17)


def day_of(meter: str, outcome: Outcome, transformer: str = "T1") -> MeterDay:
    return MeterDay(DAY, MeterDue(meter, transformer=transformer), outcome)


def test_merge_keeps_the_better_outcome_and_meters_no_longer_due(tmp_path: Path) -> None:
    path = tmp_path / "kpi.sqlite"
    with KpiStore.open(path) as store:
        store.merge(DAY, [day_of("m1", Outcome.FIRST_ATTEMPT), day_of("m2", Outcome.MISSING)])
    with KpiStore.open(path) as store:  # a restart
        merged = store.merge(
            DAY,
            [day_of("m1", Outcome.MISSING, "T2"), day_of("m3", Outcome.BACKFILLED)],
        )
        later = store.merge(DAY, [day_of("m2", Outcome.BACKFILLED)])
        other_day = store.kept(date(2026, 7, 16))
    assert [(d.due.meter, d.outcome, d.due.transformer) for d in merged] == [
        ("m1", Outcome.FIRST_ATTEMPT, "T2"),  # collected once stays collected; moved meter
        ("m2", Outcome.MISSING, "T1"),  # not due any more (removed): still counted that day
        ("m3", Outcome.BACKFILLED, "T1"),
    ]
    assert [(d.due.meter, d.outcome) for d in later][1] == ("m2", Outcome.BACKFILLED)
    assert other_day == []


def test_a_file_from_a_newer_headend_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "kpi.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(KpiStoreError, match=r"kpi\.sqlite.*newer"):
        KpiStore.open(path)
