"""An admin's meter clear and an operator's clock check of a concentrator's meter over HTTP,
end to end: ``headend simulate --master`` puts the scenario's DL/T 645 meters behind the
transformer's concentrator, ``headend run`` forwards the orders to them by AFN 10 F1, and the
simulated meter shows what was done (its register cleared, its drifting clock set), both
audited with the terminal that carried them.

The scenario is smoke with one meter whose clock gains 600 s in one simulated minute, ten
minutes after the start (a drift fault that then stops), so the check finds a known drift and
sets it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from simulators.scenario import SCENARIO_DIR
from tests.support.ports import free_tcp_port
from tests.system.processes import (
    read_meter,
    start_headend,
    start_master_simulation,
)
from tests.system.truth import GroundTruth

SEED = 5
START = datetime.fromisoformat("2026-07-17T12:00:00+08:00")
DRIFTING = "S1-H001"
CLEARED = "S1-H002"
DRIFT = 600.0
"""Seconds the drifting meter's clock gains in one minute (864,000 s a day for 60 s)."""
DRIFT_FROM = START + timedelta(minutes=10)
"""Well after the start: a simulated meter's drift counts from when the runner powered it,
which a loaded machine makes tens of simulated seconds after ``START``."""
ENERGY_STEP = 0.005
SCENARIO = f"""
[scenario]
base = "{SCENARIO_DIR / "smoke.toml"}"
name = "smoke-drift"

[[faults]]
kind = "clock_drift"
meter = "{DRIFTING}"
start = {DRIFT_FROM.isoformat()}
end = {(DRIFT_FROM + timedelta(minutes=1)).isoformat()}
seconds_per_day = {DRIFT * 24 * 60}
"""


def test_a_concentrators_meter_is_cleared_and_its_clock_set_through_it(tmp_path: Path) -> None:
    scenario = tmp_path / "smoke-drift.toml"
    scenario.write_text(SCENARIO)
    simulation = start_master_simulation(
        str(scenario), tmp_path, seed=SEED, extra=["--start", START.isoformat()]
    )
    try:
        config = simulation.config()
        (terminal,) = config.terminals.values()
        meters = {m.id: m for m in terminal.meters}
        threshold = config.clock.drift_threshold
        truth = GroundTruth(str(scenario), SEED)
        clock = simulation.clock()
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            headend.wait_for("/api/terminals", lambda ts: ts[0]["status"] == "online", timeout=120)
            simulation.wait_until(DRIFT_FROM + timedelta(minutes=1, seconds=5))  # the drift is in
            before_clear = clock.now()
            clear = headend.request(
                "POST",
                f"/api/meters/{CLEARED}/admin",
                role="admin",
                json={"order": "meter_clear", "confirm": CLEARED, "reason": "new tenant"},
            ).json()
            read = headend.request(
                "POST",
                f"/api/meters/{CLEARED}/read",
                role="operator",
                json={"quantities": ["energy_active_import_total"]},
            ).json()
            after_read = clock.now()
            check = headend.request("POST", f"/api/meters/{DRIFTING}/clock", role="operator").json()
            address = meters[DRIFTING].address
            assert address is not None
            (spec,) = (m for m in truth.scenario.meters if m.id == DRIFTING)
            before_direct = clock.now()  # its clock straight off its bus gateway: the meter
            shown = read_meter(simulation.buses[spec.bus], address, ["date", "time"])
            after_direct = clock.now()
            audit = headend.get("/api/audit", role="operator")
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    assert clear["result"], clear
    (energy,) = read
    register = truth.community_at(before_clear).meter_values(CLEARED).energy_active_import_total
    used = (
        truth.community_at(after_read).meter_values(CLEARED).energy_active_import_total
        - truth.community_at(before_clear).meter_values(CLEARED).energy_active_import_total
    )
    assert register > 1.0  # there was something to clear
    assert -ENERGY_STEP <= energy["value"] <= used + ENERGY_STEP, (energy, used)

    assert DRIFT - threshold <= check["drift_seconds"] <= DRIFT + threshold, check
    slack = timedelta(seconds=threshold)
    wall = datetime.fromisoformat(f"{shown['date']['value']}T{shown['time']['value']}")
    shown_clock = wall.replace(tzinfo=START.tzinfo)
    assert before_direct - slack <= shown_clock <= after_direct + slack  # set on the meter

    entries = [(e["meter"], e["command"], e["outcome"]) for e in reversed(audit)]
    assert entries == [
        (CLEARED, "meter clear", "intent"),
        (CLEARED, "meter clear", "ok"),
        (DRIFTING, "clock set", "intent"),
        (DRIFTING, "clock set", "ok"),
    ], audit
    for entry in audit:
        assert entry["data"]["terminal"] == terminal.name, entry
