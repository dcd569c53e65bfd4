"""Fixtures shared by every test layer. Layer-specific fixtures live in each folder's conftest;
those used by several folders are defined once in tests/support/fixtures.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.binaries import require_binary
from tests.support.mosquitto import MOSQUITTO, MosquittoBroker, running_mosquitto
from tests.support.ports import free_tcp_port

pytest_plugins = ("tests.support.fixtures",)


@pytest.fixture
def tcp_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    return free_tcp_port()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A real broker on 127.0.0.1:<free port>; ``stop()``/``restart()`` keep the port."""
    require_binary(MOSQUITTO, "mosquitto")
    with running_mosquitto(tmp_path) as broker:
        yield broker
