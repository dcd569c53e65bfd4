"""The meter archive's store: imports are whole or nothing, exchanges keep history and give
the consumption across them, and a file from a newer head-end is refused."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from storage.archive.records import ArchiveMeter, MeterExchange, MeterRole, consumption_across
from storage.archive.store import ArchiveStore, load_archive
from storage.errors import ArchiveError

M1 = ArchiveMeter(id="m1", address="000000000001", account="A-1", transformer="T1")
M2 = ArchiveMeter(id="m2", address="000000000002", kind=MeterRole.EV_PILE, ct_ratio=2.0)
AT = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)


def exchange_of_m1(**changes: object) -> MeterExchange:
    exchange = MeterExchange(
        old_meter="m1",
        new_meter="m3",
        at=AT,
        old_final={"energy_active_import_total": 1234.5},
        new_initial={"energy_active_import_total": 0.25},
        reason="display fault",
    )
    return replace(exchange, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> ArchiveStore:
    opened = ArchiveStore.open(tmp_path / "archive.sqlite")
    opened.import_meters([M1, M2])
    return opened


def test_imported_meters_survive_a_reopen_with_every_field(
    store: ArchiveStore, tmp_path: Path
) -> None:
    store.close()
    assert load_archive(tmp_path / "archive.sqlite") == [M1, M2]
    assert M2.multiplier == 2.0


def test_a_dry_run_reports_the_diff_and_changes_nothing(store: ArchiveStore) -> None:
    moved = replace(M1, transformer="T2")
    added = ArchiveMeter(id="m9", address="000000000009")
    diff = store.import_meters([moved, added], dry_run=True)
    assert diff.added == ("m9",)
    assert diff.removed == ("m2",)
    assert [c.id for c in diff.changed] == ["m1"]
    assert [f.field for f in diff.changed[0].changes] == ["transformer"]
    assert not diff.empty
    assert store.meters() == [M1, M2]


def test_an_import_with_a_duplicate_id_changes_nothing(store: ArchiveStore) -> None:
    with pytest.raises(ArchiveError, match="given twice: m9"):
        store.import_meters(
            [M1, ArchiveMeter(id="m9", address="9"), ArchiveMeter(id="m9", address="8")]
        )
    assert store.meters() == [M1, M2]


def test_an_exchange_dates_both_meters_and_bridges_consumption(store: ArchiveStore) -> None:
    new = ArchiveMeter(id="m3", address="000000000003", account="A-1")
    store.record_exchange(exchange_of_m1(), new)
    old_after, new_after = store.meter("m1"), store.meter("m3")
    assert old_after is not None
    assert old_after.removed == date(2026, 11, 10)
    assert new_after is not None
    assert new_after.installed == date(2026, 11, 10)
    assert not old_after.in_service(date(2026, 11, 11))
    assert store.successor("m1") == "m3"
    assert store.predecessors("m3") == ["m1"]
    (recorded,) = store.exchanges_for("m3", start=AT, end=None)
    # old meter 1200.0 -> 1234.5 before the exchange, new meter 0.25 -> 10.25 after it
    assert consumption_across(recorded, old_start=1200.0, new_end=10.25) == pytest.approx(44.5)
    assert store.exchanges_for("m3", end=AT) == []


def test_an_exchanged_meter_stays_as_history_through_a_later_import(store: ArchiveStore) -> None:
    store.record_exchange(exchange_of_m1(), ArchiveMeter(id="m3", address="3"))
    store.import_meters([M2, ArchiveMeter(id="m3", address="3", installed=date(2026, 11, 10))])
    assert [m.id for m in store.meters()] == ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"old_meter": "m7"}, "m7 is not in the archive"),
        ({"new_meter": "m1"}, "both m1"),
        ({"at": AT.replace(tzinfo=None)}, "UTC offset"),
    ],
)
def test_a_wrong_exchange_is_refused_and_changes_nothing(
    store: ArchiveStore, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ArchiveError, match=message):
        store.record_exchange(exchange_of_m1(**changes), ArchiveMeter(id="m3", address="3"))
    assert store.meters() == [M1, M2]
    assert store.exchanges() == []


def test_a_meter_is_exchanged_once(store: ArchiveStore) -> None:
    store.record_exchange(exchange_of_m1(), ArchiveMeter(id="m3", address="3"))
    with pytest.raises(ArchiveError, match="already exchanged"):
        store.record_exchange(exchange_of_m1(new_meter="m4"), ArchiveMeter(id="m4", address="4"))


def test_an_exchange_without_a_read_of_the_register_names_it(store: ArchiveStore) -> None:
    with pytest.raises(ArchiveError, match="m1: no final read of energy_active_import_t1"):
        exchange_of_m1().final("energy_active_import_t1")


def test_an_archive_from_a_newer_head_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    ArchiveStore.open(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ArchiveError, match="schema version 99 is newer"):
        ArchiveStore.open(path)
