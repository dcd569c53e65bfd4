"""A transformer's LV-side DTSU666 on a Modbus RTU line (a pty of ``headend simulate``), whose
firmware keeps its energy block at 0x101E: ``headend read modbus`` without the meter's energy
address prints the other values and exits partial, with it every value; ``headend run`` on the
written config (which carries ``energy_base``) collects it. Every value is compared with the
community model the simulator runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.cli.errors import ExitCode
from tests.support.ports import free_tcp_port
from tests.system.processes import Simulation, cli, start_headend, start_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke-lv"
SEED = 11
METER = "T1-LV"
TRANSFORMER = "T1"
FLOAT32 = 1e-6
"""The DTSU666 sends float32: seven significant digits of the model's value."""
INSTANT = ("voltage_a", "voltage_b", "voltage_c", "current_a", "current_b", "current_c")
ENERGY = ("energy_active_import_total", "energy_active_export_total")


@pytest.fixture(scope="module")
def lv_simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    running = start_simulation(
        SCENARIO, tmp_path_factory.mktemp("simulate-lv"), seed=SEED, extra=["--speed", "60"]
    )
    yield running
    code = running.child.stop()
    assert code == 0, f"simulate exited {code}: {running.child.stderr()[-2000:]}"


@pytest.fixture(scope="module")
def lv_truth(lv_simulation: Simulation) -> GroundTruth:
    return GroundTruth(SCENARIO, lv_simulation.seed)


def lv_url(simulation: Simulation) -> str:
    line = next(line for line in simulation.child.lines if line.startswith(f"lv {TRANSFORMER} "))
    url = line.split()[2]
    assert url.startswith("serial:///dev/"), line
    return url


def shown(truth: GroundTruth, start: datetime, end: datetime) -> list[dict[str, float]]:
    """The LV totals the model showed in each simulated minute from start to end."""
    community = truth.community_at(start)
    values = []
    moment = start
    while moment <= end:
        community.advance_to(moment)
        totals = community.transformer_values(TRANSFORMER)
        values.append({q: float(getattr(totals, q)) for q in (*INSTANT, ENERGY[0])})
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return values


def matches_one(quantity: str, value: float, minutes: list[dict[str, float]]) -> bool:
    return any(abs(value - m[quantity]) <= abs(m[quantity]) * FLOAT32 for m in minutes)


def read_lv(simulation: Simulation, *extra: str) -> tuple[int, dict[str, Any], str]:
    done = cli(
        ["read", "modbus", lv_url(simulation), "--map", "dtsu666", "--ct", "40", "--json", *extra]
    )
    rows = {row["name"]: row for row in json.loads(done.stdout)["values"]} if done.stdout else {}
    return done.returncode, rows, done.stderr


def test_read_without_the_energy_base_prints_the_readable_values_and_exits_partial(
    lv_simulation: Simulation, lv_truth: GroundTruth
) -> None:
    clock = lv_simulation.clock()
    before = clock.now()
    code, rows, err = read_lv(lv_simulation)
    after = clock.now()
    assert code == ExitCode.PARTIAL, err
    for quantity in ENERGY:
        assert rows[quantity]["value"] is None
        assert rows[quantity]["problem"] == "error_response"
    assert "holding 0x401E..0x4029" in err
    assert "illegal data address" in err
    minutes = shown(lv_truth, before, after)
    for quantity in INSTANT:
        assert rows[quantity]["value"] is not None, rows[quantity]
        assert matches_one(quantity, rows[quantity]["value"], minutes), (rows[quantity], minutes)
    assert rows["ct_ratio"]["value"] == 40


def test_read_with_the_energy_base_reads_the_energy_register(
    lv_simulation: Simulation, lv_truth: GroundTruth
) -> None:
    clock = lv_simulation.clock()
    before = clock.now()
    code, rows, err = read_lv(lv_simulation, "--energy-base", "0x101E")
    after = clock.now()
    assert code == ExitCode.OK, err
    energy = rows[ENERGY[0]]["value"]
    low = lv_truth.community_at(before).transformer_values(TRANSFORMER)
    high = lv_truth.community_at(after).transformer_values(TRANSFORMER)
    assert low.energy_active_import_total * (1 - FLOAT32) <= energy
    assert energy <= high.energy_active_import_total * (1 + FLOAT32)


def test_headend_run_collects_the_lv_meter_as_the_transformers_own(
    lv_simulation: Simulation, lv_truth: GroundTruth, tmp_path: Path
) -> None:
    clock = lv_simulation.clock()
    before = clock.now()
    running = start_headend(lv_simulation, tmp_path / "data", port=free_tcp_port())
    try:
        with running.stream() as events:
            energy = events.next_reading(
                lambda r: (
                    r["meter"] == METER and r["quantity"] == ENERGY[0] and r["quality"] == "actual"
                )
            )
            voltage = events.next_reading(
                lambda r: (
                    r["meter"] == METER
                    and r["quantity"] == "voltage_a"
                    and r["quality"] == "actual"
                )
            )
        after = clock.now()
        meters = {m["id"]: m for m in running.get("/api/meters")}
    finally:
        code = running.stop()
    assert code == 0, running.child.stderr()[-2000:]
    assert meters[METER]["kind"] == "transformer_lv"
    assert (energy["unit"], voltage["unit"]) == ("kWh", "V")
    low = lv_truth.community_at(before).transformer_values(TRANSFORMER)
    high = lv_truth.community_at(after).transformer_values(TRANSFORMER)
    assert low.energy_active_import_total * (1 - FLOAT32) <= energy["value"]
    assert energy["value"] <= high.energy_active_import_total * (1 + FLOAT32)
    assert matches_one("voltage_a", voltage["value"], shown(lv_truth, before, after)), voltage
