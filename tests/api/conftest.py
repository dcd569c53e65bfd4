"""Fixtures: a running engine on a simulated DL/T 645 bus, and an HTTP client on its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from headend.api import create_app
from tests.api.fleet import TOKENS, LiveFleet, live_fleet


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[LiveFleet]:
    async with live_fleet(tmp_path) as running:
        yield running


@pytest.fixture
async def client(fleet: LiveFleet) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
        yield http
