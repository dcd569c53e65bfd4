"""Story: an operator stops the head-end and starts it again later (an upgrade, a crash). The
slots that fell due meanwhile are gaps with reason ``headend_down``, not slots that never were,
and the day's completeness still counts what was collected before the restart."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from headend.collection.schedule import meter_offset, next_slot
from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation

METER = "S2-H003"


def is_wanted(reading: dict[str, object]) -> bool:
    telemetry = reading["quantity"] == "voltage_a" and reading["quality"] == "actual"
    return telemetry or reading["kind"] == "frozen"


def completeness_of(rows: list[dict[str, object]], meter: str) -> dict[str, object]:
    return next(row for row in rows if row["group"] == meter)


def test_slots_due_while_the_headend_was_down_are_headend_down_gaps(
    simulation: Simulation, headend: HeadEndFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = headend(data_dir)
    seen: dict[str, dict[str, object]] = {}
    with first.stream() as events:
        # A telemetry slot, and the first backfill pass (published when it has been through
        # every meter, so before it ends the day's figures count values not yet stored).
        while len(seen) < 2:
            reading = events.next_reading(lambda r: r["meter"] == METER and is_wanted(r))
            seen[str(reading["kind"])] = reading
    first_slot = datetime.fromisoformat(str(seen["instant"]["timestamp"]))
    day = first_slot.astimezone(simulation.clock().start.tzinfo).date().isoformat()
    before = completeness_of(first.get("/api/completeness", day=day, group_by="meter"), METER)
    assert first.stop() == 0
    clock = simulation.clock()
    stopped = clock.now()

    interval = next(
        r.interval
        for plan in simulation.config().plans.values()
        for r in plan.reads
        if "voltage_a" in r.quantities
    )
    # The first slot that fell due after the stop: no run can have read or queued it. Stay
    # down until its read would have started, and a simulated minute more.
    missed_slot = next_slot(stopped, interval)
    offset = timedelta(seconds=meter_offset(METER, interval))
    simulation.wait_until(missed_slot + offset + timedelta(minutes=1))

    second = headend(data_dir)
    history = second.get(
        f"/api/meters/{METER}/readings",
        quantity="voltage_a",
        kind="instant",
        start=first_slot.isoformat(),
        end=(missed_slot + timedelta(seconds=1)).isoformat(),
    )
    by_time = {datetime.fromisoformat(p["timestamp"]): p for p in history["points"]}
    assert by_time[missed_slot]["quality"] == "missing"
    assert by_time[missed_slot]["reason"] == "headend_down"
    slot = first_slot
    while slot <= missed_slot:  # no slot vanished: read, a gap with its reason, or headend_down
        assert slot in by_time, (slot, sorted(by_time))
        slot += timedelta(seconds=interval)
    after = completeness_of(second.get("/api/completeness", day=day, group_by="meter"), METER)
    assert after["received"] >= before["received"]  # type: ignore[operator]
    assert after["failures"]["headend_down"] >= 1  # type: ignore[index]
