"""Fixtures: the API of the ``fleet`` fixture (tests/support/fixtures.py), served by uvicorn on
loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from headend.api import create_app
from tests.headend.api.fleet import TOKENS, LiveFleet
from tests.headend.dashboard.server import serving


@pytest.fixture
async def base_url(fleet: LiveFleet) -> AsyncIterator[str]:
    app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
    async with serving(app) as url:
        yield url
