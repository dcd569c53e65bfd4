"""Operators' edits in the archive file: kept durably, refused without a reason, newest wins."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from storage.archive.edits import RegisterEdit
from storage.archive.store import MIGRATIONS, ArchiveStore
from storage.errors import ArchiveError

EDIT = RegisterEdit(
    "m1",
    date(2026, 6, 3),
    "energy_active_import_total",
    120.5,
    "read on site",
    "ops",
    datetime(2026, 6, 8, 1, tzinfo=UTC),
    "audit-1",
)


def test_an_edit_survives_reopening_and_is_found_by_meter_and_day(tmp_path: Path) -> None:
    with ArchiveStore.open(tmp_path / "archive.sqlite") as store:
        store.record_edit(EDIT)
    with ArchiveStore.open(tmp_path / "archive.sqlite") as store:
        assert store.edits_for(["m1"], date(2026, 6, 1), date(2026, 6, 30)) == [EDIT]
        assert store.edits_for(["m1"], date(2026, 6, 4), date(2026, 6, 30)) == []
        assert store.edits_for(["m2"], date(2026, 6, 1), date(2026, 6, 30)) == []
        assert store.edits_for([], date(2026, 6, 1), date(2026, 6, 30)) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reason": " "}, "a reason is required"),
        ({"value": -1.0}, "not a register read"),
        ({"value": float("nan")}, "not a register read"),
        ({"at": datetime(2026, 6, 8)}, "needs a UTC offset"),  # noqa: DTZ001
    ],
)
def test_an_edit_billing_cannot_stand_behind_is_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with ArchiveStore.open(tmp_path / "archive.sqlite") as store:
        with pytest.raises(ArchiveError, match=message):
            store.record_edit(replace(EDIT, **change))  # type: ignore[arg-type]
        assert store.edits_for(["m1"], date(2026, 6, 1), date(2026, 6, 30)) == []


def test_an_archive_of_the_first_schema_gets_the_edits_table(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    db.close()
    with ArchiveStore.open(path) as store:
        store.record_edit(EDIT)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
    check.close()
