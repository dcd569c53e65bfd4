"""Story: an operator upgrades a head-end whose data dir was written before the series schema
(the wide ``points`` table). The new head-end migrates the file as it opens it. Every reading
it held is still answered. The billing export goes on from its cursor without losing or
repeating an entry. The frozen value billed is still the simulator's."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from storage.embedded_schema import SCHEMA_VERSION
from tests.storage.wide_store import rewrite_as_wide
from tests.system.conftest import HeadEndFactory
from tests.system.processes import HeadEnd, Simulation
from tests.system.truth import GroundTruth

TELEMETRY_METER = "S2-H001"
BILLING_METER = "S1-H002"
FROZEN_DAY = date(2026, 7, 16)
ENERGY_STEP = 0.005


def settlement_rows(headend: HeadEnd) -> list[dict[str, str]]:
    answer = headend.request(
        "GET", "/api/exports/settlement.csv", params={"since": 0, "limit": 50_000}
    )
    assert answer.headers["X-More"] != "true"
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_a_store_of_the_wide_table_keeps_every_point_through_the_upgrade(
    simulation: Simulation, headend: HeadEndFactory, truth: GroundTruth, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = headend(data_dir)
    with first.stream() as events:
        events.next_reading(lambda r: r["meter"] == BILLING_METER and r["kind"] == "frozen")
        events.next_reading(
            lambda r: (
                r["meter"] == TELEMETRY_METER
                and r["quantity"] == "voltage_a"
                and r["quality"] == "actual"
            )
        )
    clock = simulation.clock()
    window = {
        "quantity": "voltage_a",
        "kind": "instant",
        "start": (clock.start - timedelta(days=1)).isoformat(),
        "end": clock.now().isoformat(),  # the second run writes only slots after its start
    }
    history = first.get(f"/api/meters/{TELEMETRY_METER}/readings", **window)
    exported = settlement_rows(first)
    assert first.stop() == 0
    assert history["points"], history
    assert exported

    path = Path(getattr(simulation.config().storage, "path", None) or data_dir / "headend.sqlite")
    held = rewrite_as_wide(path)
    with sqlite3.connect(path) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(points)")}
    assert "measurement" in columns  # the file is as the old head-end left it

    second = headend(data_dir)
    assert second.get(f"/api/meters/{TELEMETRY_METER}/readings", **window) == history
    again = settlement_rows(second)
    assert again[: len(exported)] == exported  # same entries, same numbers, none repeated
    assert len({row["seq"] for row in again}) == len(again)
    with sqlite3.connect(path) as connection:
        [(migrated,)] = connection.execute("SELECT count(*) FROM point_rows").fetchall()
        version = connection.execute("PRAGMA user_version").fetchone()
    assert version == (SCHEMA_VERSION,)
    assert migrated >= held  # every point kept, and the second run has added its own

    report = second.get(
        "/api/billing",
        start=FROZEN_DAY.isoformat(),
        end=FROZEN_DAY.isoformat(),
        meter=BILLING_METER,
    )
    rows = [
        row
        for row in report["daily"]
        if row["day"] == FROZEN_DAY.isoformat() and row["quantity"] == "energy_active_import_total"
    ]
    assert rows, report
    expected = truth.frozen(BILLING_METER, FROZEN_DAY)
    for row in rows:
        assert row["state"] == "collected", row
        assert abs(row["value"] - expected) <= ENERGY_STEP, (row, expected)
