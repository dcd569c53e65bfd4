"""Fixtures: the API of the ``fleet`` fixture (tests/support/fixtures.py), served by uvicorn on
loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headend.api import create_app
from tests.headend.api.fleet import TOKENS, LiveFleet
from tests.headend.dashboard.server import serving

SCREENSHOTS_ENV = "HEADEND_SCREENSHOTS"


@pytest.fixture
async def base_url(fleet: LiveFleet) -> AsyncIterator[str]:
    app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
    async with serving(app) as url:
        yield url


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the browser tests save their screenshots: ``$HEADEND_SCREENSHOTS`` when set (CI
    keeps them as artifacts, docs/dashboard.md describes them), else the test's tmp dir."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    """An empty chromium profile folder."""
    folder = tmp_path / "profile"
    folder.mkdir()
    return folder
