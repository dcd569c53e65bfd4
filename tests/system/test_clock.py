"""Story: an operator runs the simulator and the head-end on the config it wrote. Both must live
at the same simulated instant, so a clock check leaves every meter on the simulated time."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation, read_meter

METER = "S2-H002"


def test_headend_runs_on_the_simulators_clock(
    simulation: Simulation, headend: HeadEndFactory
) -> None:
    running = headend()
    clock = simulation.clock()
    before = clock.now()
    headend_now = datetime.fromisoformat(running.get("/api/fleet")["now"])
    after = clock.now()
    # The same anchor, start and speed: only the conversion to each process's monotonic clock
    # separates them, far below one simulated second.
    slack = timedelta(seconds=1)
    assert before - slack <= headend_now <= after + slack


def test_a_clock_check_keeps_the_meter_on_simulated_time(
    simulation: Simulation, headend: HeadEndFactory
) -> None:
    config = simulation.config()
    meter = config.meters[METER]
    threshold = timedelta(seconds=config.clock.drift_threshold)
    running = headend()
    check = running.request("POST", f"/api/meters/{METER}/clock", role="operator").json()
    assert abs(check["drift_seconds"]) <= threshold.total_seconds()
    running.stop()  # the gateway serves one client at a time, like a real DTU

    clock = simulation.clock()
    before = clock.now()
    values = read_meter(simulation.buses[meter.channel], str(meter.address), ["date", "time"])
    after = clock.now()
    shown = {name: value["value"] for name, value in values.items()}
    tz = simulation.clock().start.tzinfo
    meter_clock = datetime.fromisoformat(f"{shown['date']}T{shown['time']}").replace(tzinfo=tz)
    assert before - threshold <= meter_clock <= after + threshold
