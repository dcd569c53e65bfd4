"""Fixtures for simulator tests (the mosquitto fixture lives in the root conftest)."""

from __future__ import annotations

import pytest

from simulators.scenario import Scenario, load_scenario


@pytest.fixture(scope="session")
def smoke() -> Scenario:
    return load_scenario("smoke")


@pytest.fixture(scope="session")
def retrofit_before() -> Scenario:
    return load_scenario("retrofit-before")


@pytest.fixture(scope="session")
def retrofit_after() -> Scenario:
    return load_scenario("retrofit-after")
