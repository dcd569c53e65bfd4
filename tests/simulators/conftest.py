"""Fixtures for simulator tests (``mosquitto`` is in the root conftest, ``smoke`` in
tests/support/fixtures.py)."""

from __future__ import annotations

import pytest

from simulators.scenario import Scenario, load_scenario


@pytest.fixture(scope="session")
def retrofit_before() -> Scenario:
    return load_scenario("retrofit-before")


@pytest.fixture(scope="session")
def retrofit_after() -> Scenario:
    return load_scenario("retrofit-after")
