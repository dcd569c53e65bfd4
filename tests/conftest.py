"""Fixtures shared by every test layer. Layer-specific fixtures live in each folder's conftest."""

from __future__ import annotations

import pytest

from tests.support.ports import free_tcp_port


@pytest.fixture
def tcp_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    return free_tcp_port()
