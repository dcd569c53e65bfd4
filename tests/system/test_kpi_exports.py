"""Story: the billing office polls the exports and the collection team reads the day's KPIs.

``headend simulate --master`` serves a concentrator whose first answer for one day (``LATE``)
has no record; ``headend run`` pulls the concentrator's days. The simulator's ground truth:
yesterday's freeze comes on the first pull (first attempt), every older day of the window by a
re-read (backfilled), the late day only after its first request found nothing. The KPIs over
HTTP must say exactly that, per terminal and day, and say it again after a restart; the
MeterReadings export polled with its cursor must give every stored value once, equal to the
community model's freeze, and none of them again after the restart.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from storage.exports.cim_meter_readings import NAMESPACE
from storage.kpi.store import KPI_FILE, KpiStore
from tests.support.ports import free_tcp_port
from tests.system.processes import HeadEnd, start_headend, start_master_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 5
START = "2026-07-18T00:10"
"""Site time: the concentrator holds the days 2026-07-14 .. 17, frozen at their ends."""
LATE = date(2026, 7, 16)
BILLING_DAYS = [date(2026, 7, 15) + timedelta(days=n) for n in range(4)]
"""The local days of the freezes (billing's and the KPIs' day): the end of the day before."""
FIRST_PULL_DAY = BILLING_DAYS[-1]
"""Yesterday's freeze (the end of the 17th), pulled right after the start: first attempt."""
TOTAL = "energy_active_import_total"
TOTAL_TYPE = "11.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0"
NS = {"m": NAMESPACE}


def kpis(headend: HeadEnd) -> dict[str, dict[str, Any]]:
    """Local day -> the row of the concentrator (by terminal), for every billing day."""
    out = {}
    for day in BILLING_DAYS:
        answer = headend.get("/api/kpi/collection", day=day.isoformat(), by="terminal")
        (row,) = answer["rows"]
        out[day.isoformat()] = row
    return out


def poll_readings(headend: HeadEnd, since: int, page: int) -> tuple[list[dict[str, Any]], int]:
    """Poll ``/api/exports/meter-readings`` as a billing system does, until nothing is more."""
    readings: list[dict[str, Any]] = []
    while True:
        answer = headend.request(
            "GET", "/api/exports/meter-readings", params={"since": since, "limit": page}
        )
        document = ET.fromstring(answer.content)
        for meter_reading in document.findall("m:MeterReading", NS):
            meter = meter_reading.findtext("m:Meter/m:mRID", namespaces=NS)
            for values in meter_reading.findall("m:Readings", NS):
                reading_type = values.find("m:ReadingType", NS)
                assert reading_type is not None
                readings.append(
                    {
                        "meter": meter,
                        "type": reading_type.get("ref"),
                        "timestamp": values.findtext("m:timeStamp", namespaces=NS),
                        "value": float(values.findtext("m:value", namespaces=NS) or "nan"),
                    }
                )
        since = int(answer.headers["X-Next-Cursor"])
        if answer.headers["X-More"] != "true":
            return readings, since


def test_kpis_equal_the_simulated_failures_and_the_export_gives_each_value_once(
    tmp_path: Path,
) -> None:
    simulation = start_master_simulation(
        SCENARIO, tmp_path, seed=SEED, extra=["--start", START, "--late-day", LATE.isoformat()]
    )
    data_dir = tmp_path / "data"
    try:
        (terminal,) = simulation.config().terminals.values()
        meters = sorted(m.id for m in terminal.meters)
        truth = GroundTruth(SCENARIO, SEED)
        late_freeze = datetime.combine(LATE + timedelta(days=1), datetime.min.time())
        first = start_headend(simulation, data_dir, port=free_tcp_port())
        try:
            waiting = set(meters)
            with first.stream() as events:
                before = first.get(
                    "/api/billing",
                    transformer=terminal.transformer,
                    start=late_freeze.date().isoformat(),
                    end=late_freeze.date().isoformat(),
                )
                waiting -= {r["meter"] for r in before["daily"] if r["state"] == "collected"}
                while waiting:  # the late day arrives from the re-read pass, backfilled
                    reading = events.next_reading(
                        lambda r: (
                            r["kind"] == "frozen"
                            and r["quantity"] == TOTAL
                            and r["meter"] in waiting
                            and datetime.fromisoformat(r["timestamp"])
                            .astimezone(truth.scenario.utc_offset)
                            .replace(tzinfo=None)
                            == late_freeze
                        ),
                        timeout=120,
                    )
                    waiting.discard(reading["meter"])
            collected = kpis(first)
            by_meter = first.get("/api/kpi/collection", day=FIRST_PULL_DAY.isoformat(), by="meter")
            exported, cursor = poll_readings(first, 0, page=len(meters) * 3)
            settlement = first.request(
                "GET", "/api/exports/settlement.csv", params={"since": 0, "limit": 50_000}
            ).text
        finally:
            assert first.stop() == 0, first.child.stderr()[-2000:]
        second = start_headend(simulation, data_dir, port=free_tcp_port(), name="run-again")
        try:
            restarted = kpis(second)
            again, _ = poll_readings(second, cursor, page=len(meters) * 3)
        finally:
            assert second.stop() == 0, second.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    n = len(meters)
    for day in BILLING_DAYS:
        row = collected[day.isoformat()]
        assert (row["group"], row["due"], row["missing"]) == (terminal.name, n, 0), row
        if day == FIRST_PULL_DAY:
            assert (row["first_attempt"], row["backfilled"]) == (n, 0), row
        else:  # older days, and the late day that only the re-read got
            assert (row["first_attempt"], row["backfilled"]) == (0, n), row
        assert row["success_rate"] == 1.0
    assert {r["group"] for r in by_meter["rows"]} == set(meters)
    assert restarted == collected  # kept across the restart
    with KpiStore.open(data_dir / KPI_FILE) as kept:  # the engine's own snapshots, unasked
        unasked = kept.kept(BILLING_DAYS[0] - timedelta(days=1))
    assert {d.due.meter for d in unasked} == set(meters)

    keys = [(r["meter"], r["type"], r["timestamp"]) for r in exported]
    assert len(keys) == len(set(keys))  # no duplicates across the pages
    totals = {(r["meter"], r["timestamp"]): r["value"] for r in exported if r["type"] == TOTAL_TYPE}
    for meter in meters:
        for day in BILLING_DAYS:
            freeze = datetime.combine(day, time(), truth.scenario.utc_offset)
            stamp = freeze.astimezone(UTC).isoformat().replace("+00:00", "Z")
            assert totals[(meter, stamp)] == round(truth.frozen(meter, day), 4), (meter, day)
    # After the restart the cursor goes on: nothing already exported comes again.
    assert not {(r["meter"], r["type"], r["timestamp"]) for r in again} & set(keys)
    rows = list(csv.DictReader(io.StringIO(settlement)))
    # The CSV also carries the registers without a CIM ReadingType, which the XML leaves out:
    # the export register the terminal pull stores too (F163).
    untyped = {r["quantity"] for r in rows if not r["reading_type"]}
    assert untyped == {"energy_active_export_total"} | {
        f"energy_active_export_t{n}" for n in (1, 2, 3, 4)
    }
    rows = [r for r in rows if r["reading_type"]]
    assert len(rows) == len(exported)
    assert {r["timestamp_local"][:10] for r in rows if r["quantity"] == TOTAL} == {
        d.isoformat() for d in BILLING_DAYS
    }
