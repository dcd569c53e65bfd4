"""Fixtures: the engine on its simulated bus, with the API served by uvicorn on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from headend.api import create_app
from tests.api.fleet import TOKENS, LiveFleet, live_fleet
from tests.dashboard.server import serving


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[LiveFleet]:
    async with live_fleet(tmp_path) as running:
        yield running


@pytest.fixture
async def base_url(fleet: LiveFleet) -> AsyncIterator[str]:
    app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
    async with serving(app) as url:
        yield url
