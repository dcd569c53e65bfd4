"""Story: an operator runs the simulator and the head-end on the config it wrote. Both must live
at the same simulated instant, so a clock check leaves every meter on the simulated time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation, cli

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
    done = cli(
        [
            "read",
            "dlt645",
            simulation.buses[meter.channel],
            "--address",
            str(meter.address),
            "--quantity",
            "date",
            "--quantity",
            "time",
            "--json",
        ]
    )
    after = clock.now()
    assert done.returncode == 0, done.stderr
    shown = {value["name"]: value["value"] for value in json.loads(done.stdout)["values"]}
    tz = simulation.clock().start.tzinfo
    meter_clock = datetime.fromisoformat(f"{shown['date']}T{shown['time']}").replace(tzinfo=tz)
    assert before - threshold <= meter_clock <= after + threshold
