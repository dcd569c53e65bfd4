"""Story: an operator stops the head-end and starts it again later (an upgrade, a crash). The
slots that fell due meanwhile are gaps with reason ``headend_down``, not slots that never were,
and the day's completeness still counts what was collected before the restart."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from headend.clock import WarpedClock
from headend.schedule import meter_offset
from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation

METER = "S2-H003"


def wait_for_simulated(clock: WarpedClock, moment: datetime) -> None:
    """Let simulated time reach ``moment``: the awaited event is the clock itself."""
    time.sleep(max(0.0, clock.real_seconds((moment - clock.now()).total_seconds())))


def completeness_of(rows: list[dict[str, object]], meter: str) -> dict[str, object]:
    return next(row for row in rows if row["group"] == meter)


def test_slots_due_while_the_headend_was_down_are_headend_down_gaps(
    simulation: Simulation, headend: HeadEndFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = headend(data_dir)
    with first.stream() as events:
        reading = events.next_reading(
            lambda r: (
                r["meter"] == METER and r["quantity"] == "voltage_a" and r["quality"] == "actual"
            )
        )
    last_slot = datetime.fromisoformat(reading["timestamp"])
    day = last_slot.astimezone(simulation.clock().start.tzinfo).date().isoformat()
    before = completeness_of(first.get("/api/completeness", day=day, group_by="meter"), METER)
    assert first.stop() == 0

    interval = next(
        r.interval
        for plan in simulation.config().plans.values()
        for r in plan.reads
        if "voltage_a" in r.quantities
    )
    missed_slot = last_slot + timedelta(seconds=interval)
    # Down until the next slot's read would have started, and a simulated minute more.
    clock = simulation.clock()
    offset = timedelta(seconds=meter_offset(METER, interval))
    wait_for_simulated(clock, missed_slot + offset + timedelta(minutes=1))

    second = headend(data_dir)
    history = second.get(
        f"/api/meters/{METER}/readings",
        quantity="voltage_a",
        kind="instant",
        start=last_slot.isoformat(),
        end=(missed_slot + timedelta(seconds=1)).isoformat(),
    )
    by_time = {datetime.fromisoformat(p["timestamp"]): p for p in history["points"]}
    assert by_time[missed_slot]["quality"] == "missing"
    assert by_time[missed_slot]["reason"] == "headend_down"
    after = completeness_of(second.get("/api/completeness", day=day, group_by="meter"), METER)
    assert after["received"] >= before["received"]  # type: ignore[operator]
    assert after["failures"]["headend_down"] >= 1  # type: ignore[index]
