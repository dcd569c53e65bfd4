"""Story: a site has meters that refuse block reads (many models answer ``0201FF00`` with
"no requested data"). ``headend run`` reads their quantities item by item, the values equal
the simulator's ground truth, the API shows per meter what it supports, and a restart keeps
what was learned (``block-reads.json`` in the data dir)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.collection.schedule import meter_offset
from tests.support.ports import free_tcp_port
from tests.system.conftest import SEED, SPEED, START
from tests.system.processes import HeadEnd, Simulation, start_headend, start_simulation
from tests.system.truth import GroundTruth

SCENARIO = "blocks-refused"
REFUSING = "S1-P"
ANSWERING = "S2-P"
STEPS = {"voltage": 0.05, "current": 0.0005}
"""Half the last digit the meter sends (XXX.X V, XXX.XXX A)."""
WANTED = {f"{q}_{phase}" for q in STEPS for phase in "abc"}
REFUSED = {"supported": False, "why": "refused with error word 0x02"}


@pytest.fixture(scope="module")
def refusing_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    """``headend simulate blocks-refused``, as a user would start it (no MQTT terminal)."""
    running = start_simulation(
        SCENARIO,
        tmp_path_factory.mktemp("simulate-blocks"),
        seed=SEED,
        extra=["--start", START, "--speed", f"{SPEED:g}"],
    )
    yield running
    code = running.child.stop()
    assert code == 0, f"simulate exited {code}: {running.child.stderr()[-2000:]}"


def shown_during_the_read(
    simulation: Simulation, truth: GroundTruth, reading: dict[str, Any]
) -> list[float]:
    slot = datetime.fromisoformat(reading["timestamp"])
    interval = next(
        r.interval
        for plan in simulation.config().plans.values()
        for r in plan.reads
        if reading["quantity"] in r.quantities
    )
    earliest = slot + timedelta(seconds=meter_offset(reading["meter"], interval))
    return truth.values_between(
        reading["meter"], reading["quantity"], earliest, slot + timedelta(seconds=interval)
    )


@pytest.fixture
def runs(refusing_bus: Simulation, tmp_path: Path) -> Iterator[list[HeadEnd]]:
    """``headend run`` processes on the written config; every one started is stopped."""
    started: list[HeadEnd] = []
    yield started
    for running in started:
        code = running.stop()
        assert code == 0, f"headend run exited {code}: {running.child.stderr()[-2000:]}"


def test_block_refusing_meters_are_read_item_by_item_and_remembered_across_a_restart(
    refusing_bus: Simulation, runs: list[HeadEnd], tmp_path: Path
) -> None:
    simulation = refusing_bus
    truth = GroundTruth(SCENARIO, simulation.seed)
    data_dir = tmp_path / "data"

    def start(name: str) -> HeadEnd:
        running = start_headend(simulation, data_dir, port=free_tcp_port(), name=name)
        runs.append(running)
        return running

    first = start("run0")
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    with first.stream() as events:
        while len(seen) < 2 * len(WANTED):
            reading = events.next_reading(
                lambda r: r["meter"] in (REFUSING, ANSWERING) and r["quantity"] in WANTED
            )
            assert reading["quality"] == "actual", reading  # no quantity comes back missing
            seen[(reading["meter"], reading["quantity"])] = reading
    for reading in seen.values():
        step = STEPS[reading["quantity"].split("_")[0]]
        shown = shown_during_the_read(simulation, truth, reading)
        assert any(abs(reading["value"] - v) <= step + 1e-9 for v in shown), (reading, shown)
    refusing = first.get(f"/api/meters/{REFUSING}")["block_reads"]
    answering = first.get(f"/api/meters/{ANSWERING}")["block_reads"]
    assert refusing == {"0201FF00": REFUSED, "0202FF00": REFUSED}
    assert answering == {b: {"supported": True, "why": None} for b in ("0201FF00", "0202FF00")}
    assert first.stop() == 0

    saved = json.loads((data_dir / "block-reads.json").read_text())
    assert saved["meters"][REFUSING]["0201FF00"]["supported"] is False
    assert ANSWERING not in saved["meters"]  # a block answered needs no memory
    second = start("run1")  # asked before it reads anything: the file says it
    assert second.get(f"/api/meters/{REFUSING}")["block_reads"] == refusing
    assert second.get(f"/api/meters/{ANSWERING}")["block_reads"] == {}
