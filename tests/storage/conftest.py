"""Fixtures for storage tests: real servers on loopback, started once per module."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.binaries import require_binary
from tests.support.influx_servers import (
    INFLUXD_BINARY,
    VICTORIA_METRICS_BINARY,
    InfluxDB16,
    VictoriaMetrics,
)

_names = itertools.count()


@pytest.fixture(scope="module")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics server shared by the tests of one module."""
    require_binary(VICTORIA_METRICS_BINARY, "victoria-metrics")
    server = VictoriaMetrics(tmp_path_factory.mktemp("vm"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics server for one test, which may stop and restart it."""
    require_binary(VICTORIA_METRICS_BINARY, "victoria-metrics")
    server = VictoriaMetrics(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def influxdb16(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB16]:
    """An InfluxDB 1.6 server shared by the tests of one module."""
    require_binary(INFLUXD_BINARY, "influxdb")
    server = InfluxDB16(tmp_path_factory.mktemp("influx"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_database(influxdb16: InfluxDB16) -> str:
    """A fresh database name on the shared InfluxDB 1.6 server."""
    name = f"test{next(_names)}"
    influxdb16.create_database(name)
    return name
