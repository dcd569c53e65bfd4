"""Fixtures used by more than one test folder, defined once (registered by tests/conftest.py).

A folder's own conftest keeps what only that folder uses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simulators.dlt645 import ScheduledFault
from simulators.scenario import Scenario, load_scenario
from tests.headend.api.fleet import LiveFleet, live_fleet
from tests.support.engine_rig import Rig, running_rig

SCREENSHOTS_ENV = "HEADEND_SCREENSHOTS"


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


@pytest.fixture
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """The engine collecting from two simulated DL/T 645 meters (tests/support/engine_rig.py);
    parametrise it ``indirect`` with a list of ``ScheduledFault`` to inject faults."""
    faults: list[ScheduledFault] = getattr(request, "param", [])
    async with running_rig(tmp_path, faults) as running:
        yield running


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the browser tests (tests/headend/dashboard, tests/system) save their screenshots:
    ``$HEADEND_SCREENSHOTS`` when set (CI keeps it as an artifact; docs/dashboard.md describes
    them), else the test's tmp dir."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """An empty chromium profile folder."""
    folder = tmp_path / "profile"
    folder.mkdir()
    return folder
