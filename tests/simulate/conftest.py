"""Fixtures for the scenario runner and ``headend simulate`` tests."""

from __future__ import annotations

import pytest

from simulators.scenario import Scenario, load_scenario


@pytest.fixture(scope="session")
def smoke() -> Scenario:
    return load_scenario("smoke")
