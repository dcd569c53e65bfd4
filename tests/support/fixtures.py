"""Fixtures used by more than one test folder, defined once (registered by tests/conftest.py).

A folder's own conftest keeps what only that folder uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulators.scenario import Scenario, load_scenario
from tests.headend.api.fleet import LiveFleet, live_fleet


@pytest.fixture(scope="session")
def smoke() -> Scenario:
    """The bundled smoke scenario (loaded once: tests read it, none may change it)."""
    return load_scenario("smoke")


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[LiveFleet]:
    """An engine collecting from a simulated DL/T 645 bus, with its store
    (tests/headend/api/fleet.py)."""
    async with live_fleet(tmp_path) as running:
        yield running
