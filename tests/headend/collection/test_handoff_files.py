"""The settlement file of a hand-off is the same whatever the page size (the next page is read
while one is written), and a correction's file holds only the entries after its ``after``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from headend.collection.handoff_files import day_page, file_names, write_settlement
from storage.embedded import SqliteStore
from storage.exports.settlement_csv import Customer
from storage.records import Quality, Reading, ReadingKind

TZ = ZoneInfo("Asia/Shanghai")
FREEZE = datetime(2026, 7, 17, 16, 0, tzinfo=UTC)  # 2026-07-18 00:00 in Shanghai
DAY = FREEZE.astimezone(TZ).date()


def nobody(meters: set[str]) -> dict[str, Customer]:
    return {}


async def test_pages_of_any_size_give_one_file_and_a_correction_only_what_changed(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        readings = [
            Reading(f"m{n}", "energy_active_import_total", 100.0 + n, "kWh", FREEZE,
                    ReadingKind.FROZEN)
            for n in range(7)
        ]  # fmt: skip
        await store.write(readings)
        daily_upto = await store.last_change()
        late = Reading(
            "m3", "energy_active_import_total", 103.5, "kWh", FREEZE, ReadingKind.FROZEN,
            Quality.BACKFILLED,
        )  # fmt: skip
        await store.write([late])
        upto = await store.last_change()
        whole = tmp_path / "whole.csv"
        paged = tmp_path / "paged.csv"
        correction = tmp_path / "correction.csv"
        counts = [
            await write_settlement(store, whole, day_page(DAY, TZ, 0, upto), nobody, TZ),
            await write_settlement(
                store, paged, day_page(DAY, TZ, 0, upto), nobody, TZ, page_size=2
            ),
            await write_settlement(
                store, correction, day_page(DAY, TZ, daily_upto, upto), nobody, TZ
            ),
        ]
    finally:
        await store.aclose()
    assert counts == [7, 7, 1]
    assert paged.read_bytes() == whole.read_bytes()
    lines = correction.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert lines[1].split(",")[1] == "m3"
    assert lines[1].endswith(",103.5,kWh,backfilled,daily_freeze,m3,,,")  # own usage point
    assert file_names(DAY, 3) == ("settlement-2026-07-18-03.csv", "kpi-2026-07-18-03.csv")
