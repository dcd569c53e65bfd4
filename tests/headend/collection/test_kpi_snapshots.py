"""The engine's KPI snapshots: every day of the collection window kept in kpi.sqlite."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from headend.clock import WarpedClock
from headend.collection.kpi_snapshots import snapshots_for
from headend.config.fleet import parse_fleet_config
from storage.embedded import SqliteStore
from storage.kpi.outcomes import Outcome
from storage.kpi.store import KpiStore
from storage.records import Reading, ReadingKind
from tests.support.concentrator_fleet import KEEPS, NOW, TODAY, TZ, concentrator_fleet

TOTAL = "energy_active_import_total"


async def test_a_pass_keeps_each_day_of_the_window_and_outcomes_never_worsen(
    tmp_path: Path,
) -> None:
    config = parse_fleet_config(concentrator_fleet(), "test")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    kpi_path = tmp_path / "kpi.sqlite"
    freeze = datetime.combine(TODAY, time(), TZ).astimezone(UTC)
    try:
        snapshots = snapshots_for(
            config,
            [],
            store,
            WarpedClock(NOW.astimezone(UTC), speed=1),
            kpi_path,
            tmp_path / "archive.sqlite",  # absent: the fleet's labels stand
            3600.0,
        )
        assert snapshots is not None
        await store.write([Reading("m1", TOTAL, 9.0, "kWh", freeze, ReadingKind.FROZEN)])
        written = await snapshots.run_pass()
        lost = Reading.missing("m1", TOTAL, "kWh", freeze, "timeout", kind=ReadingKind.FROZEN)
        await store.write([lost])
        await snapshots.run_pass()
    finally:
        await store.aclose()
    days = KEEPS + 2  # the concentrator's window, the day its re-reads still reach, and today
    assert written == 3 * days
    with KpiStore.open(kpi_path) as kept:
        today = {d.due.meter: d.outcome for d in kept.kept(TODAY)}
        oldest = kept.kept(TODAY - timedelta(days=days - 1))
        before = kept.kept(TODAY - timedelta(days=days))
    assert today == {"m1": Outcome.FIRST_ATTEMPT, "m2": Outcome.MISSING, "m3": Outcome.MISSING}
    assert {d.due.terminal for d in oldest} == {"jzq-T1"}
    assert before == []
    assert snapshots.stats.passes == 2


def test_no_kpi_file_or_no_store_means_no_snapshots(tmp_path: Path) -> None:
    config = parse_fleet_config(concentrator_fleet(), "test")
    clock = WarpedClock(NOW.astimezone(UTC), speed=1)
    assert snapshots_for(config, [], None, clock, tmp_path / "k", None, 1.0) is None
