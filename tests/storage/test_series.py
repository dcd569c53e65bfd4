"""Series ids: one point per meter, quantity, kind and time even when tags or unit change, and
no id in memory that the file does not have."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.embedded import SqliteStore
from storage.errors import StorageFull
from storage.records import Reading, ReadingKind

T0 = datetime(2026, 3, 1, tzinfo=UTC)
Q = "energy_active_import_total"
ON_T1 = {"transformer": "T1"}
ON_T2 = {"transformer": "T2"}
ROOMY_PAGES = 1 << 30


def energy(value: float, at: datetime, tags: dict[str, str], unit: str = "kWh") -> Reading:
    return Reading("M1", Q, value, unit, at, ReadingKind.ENERGY, tags=tags)


async def points(store: SqliteStore) -> list[tuple[datetime, float | None, str]]:
    stored = await store.stored_points(
        ReadingKind.ENERGY, ["M1"], [Q], T0 - timedelta(days=1), T0 + timedelta(days=1)
    )
    return [(p.timestamp, p.value, p.unit) for p in stored]


async def test_a_moved_meter_overwrites_its_points_across_batches_and_reopening(
    tmp_path: Path,
) -> None:
    """M1 moves from T1 to T2 at T0: the point at T0 read again under T2 replaces the one under
    T1, the older point stays under T1, and after reopening (ids loaded from the file) a write
    under T1 at T0 replaces the T2 point again."""
    path = tmp_path / "store.db"
    earlier = T0 - timedelta(minutes=15)
    store = await SqliteStore.open(path)
    try:
        await store.write([energy(1.0, earlier, ON_T1), energy(2.0, T0, ON_T1)])
        await store.write([energy(3.0, T0, ON_T2)])
        assert await points(store) == [(earlier, 1.0, "kWh"), (T0, 3.0, "kWh")]
        assert await store.meters_of_transformer("T2") == ["M1"]
        assert await store.meters_of_transformer("T1") == ["M1"]  # by its earlier point
    finally:
        await store.aclose()
    store = await SqliteStore.open(path)
    try:
        await store.write([energy(4.0, T0, ON_T1)])
        assert await points(store) == [(earlier, 1.0, "kWh"), (T0, 4.0, "kWh")]
        assert await store.meters_of_transformer("T2") == []
    finally:
        await store.aclose()


async def test_within_a_batch_the_last_of_several_series_wins(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write([energy(1.0, T0, ON_T1)])
        await store.write(
            [energy(2.0, T0, ON_T2), energy(3.0, T0, ON_T1, unit="Wh"), energy(5.0, T0, ON_T2)]
        )
        assert await points(store) == [(T0, 5.0, "kWh")]
        assert await store.meters_of_transformer("T1") == []
    finally:
        await store.aclose()


async def test_series_of_a_rolled_back_batch_are_forgotten(tmp_path: Path) -> None:
    """A batch that fails (disk budget) rolls back its new series; the same batch written once
    there is room again must not point at the ids the file never kept."""
    path = tmp_path / "store.db"
    store = await SqliteStore.open(path)
    try:
        await store.write([energy(1.0, T0, ON_T1)])

        def freeze_size(connection: sqlite3.Connection) -> None:
            pages = int(connection.execute("PRAGMA page_count").fetchone()[0])
            connection.execute(f"PRAGMA max_page_count={pages}")

        await store._thread.run(freeze_size)
        many = [
            Reading(f"N{n:04d}", Q, float(n), "kWh", T0, ReadingKind.ENERGY, tags={"b": "x" * 50})
            for n in range(2000)
        ]
        with pytest.raises(StorageFull):
            await store.write(many)
        await store._thread.run(lambda c: c.execute(f"PRAGMA max_page_count={ROOMY_PAGES}"))
        await store.write(many)
        stored = await store.stored_points(
            ReadingKind.ENERGY, [r.meter for r in many], [Q], T0, T0 + timedelta(seconds=1)
        )
    finally:
        await store.aclose()
    assert [(p.meter, p.value) for p in stored] == [(r.meter, r.value) for r in many]
    with sqlite3.connect(path) as connection:
        orphans = connection.execute(
            "SELECT count(*) FROM points WHERE series NOT IN (SELECT id FROM series)"
        ).fetchone()
    assert orphans == (0,)


async def test_a_backfill_under_new_tags_replaces_an_older_point(tmp_path: Path) -> None:
    """Moved, read forward (nothing to replace), then an older time read again under the new
    tags: that point replaces the one under the old tags, the others stay."""
    quarter = timedelta(minutes=15)
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        await store.write([energy(1.0, T0 - 2 * quarter, ON_T1), energy(2.0, T0 - quarter, ON_T1)])
        await store.write([energy(3.0, T0, ON_T2)])
        await store.write([energy(1.5, T0 - 2 * quarter, ON_T2)])
        assert await points(store) == [
            (T0 - 2 * quarter, 1.5, "kWh"),
            (T0 - quarter, 2.0, "kWh"),
            (T0, 3.0, "kWh"),
        ]
        assert await store.meters_of_transformer("T1") == ["M1"]
    finally:
        await store.aclose()
