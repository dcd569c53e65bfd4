"""Fixtures: an HTTP client on the API of the ``fleet`` fixture (tests/support/fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from headend.api import create_app
from tests.headend.api.fleet import TOKENS, LiveFleet


@pytest.fixture
async def client(fleet: LiveFleet) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
        yield http
