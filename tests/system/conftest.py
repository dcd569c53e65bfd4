"""System-test fixtures: a real ``headend simulate`` (with a real mosquitto for the scenario's
transformer terminal) shared by the session, and ``headend run`` started per test on the config
that simulate wrote, unedited.

The simulation starts ten minutes after the local midnight of the smoke scenario's second day,
so every meter already holds a daily freeze (2026-07-16) that the head-end can bill, and runs at
the simulator's default speed (60x), as a user would start it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.binaries import require_binary
from tests.support.mosquitto import MOSQUITTO, MosquittoBroker, running_mosquitto
from tests.support.ports import free_tcp_port
from tests.system.processes import HeadEnd, Simulation, start_headend, start_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 7
START = "2026-07-16T00:10"
"""Site time: after the 2026-07-16 00:00 freeze."""
SPEED = 60.0

HeadEndFactory = Callable[..., HeadEnd]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    require_binary(MOSQUITTO, "mosquitto")
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto")) as running:
        yield running


@pytest.fixture(scope="session")
def simulation(
    broker: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Simulation]:
    running = start_simulation(
        SCENARIO,
        tmp_path_factory.mktemp("simulate"),
        seed=SEED,
        extra=["--start", START, "--speed", f"{SPEED:g}", "--mqtt", f"{broker.host}:{broker.port}"],
    )
    yield running
    code = running.child.stop()
    assert code == 0, f"simulate exited {code}: {running.child.stderr()[-2000:]}"


@pytest.fixture(scope="session")
def truth(simulation: Simulation) -> GroundTruth:
    return GroundTruth(SCENARIO, simulation.seed)


@pytest.fixture
def headend(simulation: Simulation, tmp_path: Path) -> Iterator[HeadEndFactory]:
    """Starts ``headend run`` on the written config; every one started is stopped at the end."""
    started: list[HeadEnd] = []

    def start(data_dir: Path | None = None) -> HeadEnd:
        running = start_headend(
            simulation,
            data_dir or tmp_path / "data",
            port=free_tcp_port(),
            name=f"run{len(started)}",
        )
        started.append(running)
        return running

    yield start
    for running in started:
        code = running.stop()
        assert code == 0, f"headend run exited {code}: {running.child.stderr()[-2000:]}"
