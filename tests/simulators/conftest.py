"""Fixtures for simulator tests. The mosquitto fixture is meant to move to the root conftest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.scenario import Scenario, load_scenario
from tests.support.mosquitto import MOSQUITTO, MosquittoBroker, running_mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A real broker on 127.0.0.1:<free port>; ``stop()``/``restart()`` keep the port."""
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} is not installed")
    with running_mosquitto(tmp_path) as broker:
        yield broker


@pytest.fixture(scope="session")
def smoke() -> Scenario:
    return load_scenario("smoke")


@pytest.fixture(scope="session")
def retrofit_before() -> Scenario:
    return load_scenario("retrofit-before")


@pytest.fixture(scope="session")
def retrofit_after() -> Scenario:
    return load_scenario("retrofit-after")
