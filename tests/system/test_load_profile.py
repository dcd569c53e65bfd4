"""Story: a field engineer reads a meter's load profile (负荷曲线, 06xxxxxx) with
``headend read dlt645 --load-profile`` from a running ``headend simulate``: each 15-minute record
holds what the meter showed at that slot, as the community model had it then (the model keeps
what every meter showed at each slot, as a meter's profile does)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.system.processes import Simulation, cli
from tests.system.truth import GroundTruth

METER = "S2-H003"
SLOTS = ("2026-07-16T00:15", "2026-07-16T00:30")
"""Site wall time (UTC+8) of the smoke scenario's first slots after the simulation's start."""
STEPS = {"voltage_a": 0.05, "energy_active_import_total": 0.005, "current_a": 0.0005}


def test_load_profile_records_are_what_the_meter_showed_at_each_slot(
    simulation: Simulation, truth: GroundTruth
) -> None:
    meter = simulation.config().meters[METER]
    site = truth.scenario.utc_offset
    slots = [datetime.fromisoformat(s).replace(tzinfo=site) for s in SLOTS]
    simulation.wait_until(slots[-1] + timedelta(minutes=1))
    done = cli(
        [
            "read",
            "dlt645",
            simulation.buses[meter.channel],
            "--address",
            str(meter.address),
            "--load-profile",
            SLOTS[0],
            str(len(SLOTS)),
            "--timeout",
            "5s",  # two records of every class are over 200 bytes: seconds at 2400 baud
            "--json",
        ]
    )
    assert done.returncode == 0, done.stderr
    values = {v["name"]: v["value"] for v in json.loads(done.stdout)["values"]}
    for text, slot in zip(SLOTS, slots, strict=True):
        shown = truth.community_at(slot).meter_values(METER).quantities()
        for quantity, step in STEPS.items():
            read = values[f"{text} {quantity}"]
            assert abs(read - shown[quantity]) <= step + 1e-9, (text, quantity, read, shown)
    first = values[f"{SLOTS[0]} energy_active_import_total"]
    assert values[f"{SLOTS[1]} energy_active_import_total"] >= first
