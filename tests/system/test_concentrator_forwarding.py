"""On-demand reads and a relay trip of a concentrator's meter over HTTP, end to end: ``headend
simulate --master`` puts the scenario's DL/T 645 meters behind each transformer's concentrator,
``headend run`` on the written config forwards the DL/T 645 frames to them by AFN 10 F1, and
what it answers is what the community model shows (a tripped meter reads no current).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_master_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 5
START = "2026-07-17T12:00"
"""Midday: the meters draw current, so a trip shows."""
VOLTAGE_STEP = 0.05
"""The register's resolution (XXX.X V) halved, as the bus tests allow."""
ENERGY_STEP = 0.005


def test_a_concentrators_meter_is_read_and_tripped_through_it(tmp_path: Path) -> None:
    simulation = start_master_simulation(SCENARIO, tmp_path, seed=SEED, extra=["--start", START])
    try:
        config = simulation.config()
        (terminal,) = config.terminals.values()
        meter = terminal.meters[0].id
        truth = GroundTruth(SCENARIO, SEED)
        clock = simulation.clock()
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            # Logged in: its first pull may be over before a stream could be listening.
            headend.wait_for("/api/terminals", lambda ts: ts[0]["status"] == "online", timeout=120)
            before = clock.now()
            read = headend.request(
                "POST",
                f"/api/meters/{meter}/read",
                role="operator",
                json={"quantities": ["voltage_a", "current_a", "energy_active_import_total"]},
            ).json()
            after = clock.now()
            trip = headend.request(
                "POST",
                f"/api/meters/{meter}/relay",
                role="operator",
                json={"action": "trip", "reason": "system test"},
            ).json()
            tripped = headend.request(
                "POST",
                f"/api/meters/{meter}/read",
                role="operator",
                json={"quantities": ["current_a"]},
            ).json()
            audit = headend.get("/api/audit", role="operator", meter=meter)
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    values = {r["quantity"]: r for r in read}
    assert {r["meter"] for r in read} == {meter}
    assert all(r["quality"] == "actual" for r in read), read
    shown = truth.values_between(meter, "voltage_a", before, after)
    voltage = values["voltage_a"]["value"]
    assert any(abs(voltage - v) <= VOLTAGE_STEP + 1e-9 for v in shown), (voltage, shown)
    currents = truth.values_between(meter, "current_a", before, after)
    assert min(currents) > 0.01, currents  # it draws current before the trip
    energy = values["energy_active_import_total"]["value"]
    low = truth.community_at(before).meter_values(meter).energy_active_import_total
    high = truth.community_at(after).meter_values(meter).energy_active_import_total
    assert low - ENERGY_STEP <= energy <= high + ENERGY_STEP, (energy, low, high)

    assert (trip["state"], trip["verified"]) == ("open", True), trip
    (current,) = tripped
    assert current["value"] == 0.0, current  # the relay is open on the meter itself
    outcomes = [entry["outcome"] for entry in audit]
    assert outcomes == ["ok", "intent"], audit  # newest first
