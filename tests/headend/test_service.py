"""The service composes storage, engine and HTTP API from one fleet config, in this process.

It starts collecting from simulated DL/T 645 meters (an in-memory bus) into the embedded store
under its data directory, serves ``/health`` and the live stream on a real socket, stops on
SIGTERM with reads finished and buffers flushed, and ends with ``DataLost`` when it could not
store everything it acquired (``headend run`` turns that into exit status 7). Its API socket
sends small responses at once (no Nagle delay).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from headend.clock import WarpedClock
from headend.collection.writer import RecordWriter
from headend.config.fleet import parse_fleet_config
from headend.service import DataLost, ServiceOptions, listen_socket, serve
from simulators.dlt645 import TransportLink
from storage.embedded import SqliteStore
from storage.records import ReadingKind
from tests.support.engine_rig import M1, M2, START, fast_bus, two_meter_fleet
from transports.memory import MemoryNetwork

READER_ENV = "HEADEND_TEST_SERVICE_READER"
READER_TOKEN = "reader-secret-for-the-service-test"
WAIT_S = 60.0
"""A broken service fails the test instead of hanging it."""


def service_fleet(storage: Mapping[str, object] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = two_meter_fleet()
    document["api"] = {
        "listen": "127.0.0.1:8080",  # ServiceOptions.listen overrides it with a free port
        "tokens": [{"name": "billing", "role": "reader", "token_env": READER_ENV}],
    }
    if storage is not None:
        document["storage"] = dict(storage)
    return document


async def ended(service: Awaitable[None]) -> Exception | None:
    """How the service ended: None when it returned, else what it raised."""
    try:
        await service
    except Exception as exc:
        return exc
    return None


@asynccontextmanager
async def service(
    tmp_path: Path, document: dict[str, Any]
) -> AsyncIterator[tuple[str, asyncio.Task[Exception | None]]]:
    """``serve`` running on a simulated bus; yields the dashboard URL and the task telling how
    the service ended. The caller stops it (SIGTERM) and awaits that; it is cancelled if still
    running."""
    clock = WarpedClock(START, speed=60)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, [])
    device_end = network.listen("bus-1")
    options = ServiceOptions(
        data_dir=tmp_path / "var", listen="127.0.0.1:0", clock=clock, memory=network
    )
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_ready(url: str) -> None:
        ready.set_result(url)

    config = parse_fleet_config(document, "service-test.toml")
    environ = {READER_ENV: READER_TOKEN}
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        running = group.create_task(
            ended(serve(config, options, environ=environ, on_ready=on_ready))
        )
        try:
            async with asyncio.timeout(WAIT_S):
                url = await asyncio.shield(ready)
            yield url, running
        finally:
            if not running.done():
                running.cancel()
            server.cancel()


async def first_reading(client: httpx.AsyncClient) -> dict[str, Any]:
    """The first reading the live stream shows (shown only once stored)."""
    headers = {"Authorization": f"Bearer {READER_TOKEN}"}
    async with client.stream("GET", "/api/stream", headers=headers) as response:
        assert response.status_code == 200
        event = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "reading":
                reading: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return reading
    raise AssertionError("the stream ended before a reading")


def stop_the_service(running: asyncio.Task[Exception | None]) -> None:
    """What ``kill`` or ``docker stop`` does. The service's handler takes it only while it runs:
    a service that already ended would leave the signal to kill the test process."""
    assert not running.done(), f"the service ended early: {running.result()!r}"
    os.kill(os.getpid(), signal.SIGTERM)


async def test_the_service_collects_serves_health_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    async with service(tmp_path, service_fleet()) as (url, running):
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as client:
            health = await client.get("/health")
            async with asyncio.timeout(WAIT_S):
                shown = await first_reading(client)
        port = httpx.URL(url).port
        stop_the_service(running)
        async with asyncio.timeout(WAIT_S):
            assert await running is None  # returned: no DataLost, nothing was lost
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "collecting": True,
        "meters": 2,
        "site": "test",
        "timezone": "Asia/Shanghai",
    }
    assert shown["meter"] in (M1, M2), shown
    # Stopped: the API no longer listens, and the embedded store in the data directory holds
    # what was shown live (and the rest collected before the stop).
    assert port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=WAIT_S).close()
    store = await SqliteStore.open(tmp_path / "var" / "headend.sqlite")
    try:
        stored = await store.stored_points(
            ReadingKind(shown["kind"]),
            [shown["meter"]],
            [shown["quantity"]],
            START - timedelta(days=30),
            START + timedelta(days=1),
        )
    finally:
        await store.aclose()
    at = datetime.fromisoformat(shown["timestamp"])
    assert [p.value for p in stored if p.timestamp == at] == [pytest.approx(shown["value"])]


@contextmanager
def writer_log_says(words: str) -> Iterator[asyncio.Event]:
    """An event set when the record writer logs a message containing ``words``."""
    said = asyncio.Event()

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if words in record.getMessage():
                said.set()

    logger = logging.getLogger(RecordWriter.__module__)
    listener = Listener(logging.ERROR)
    logger.addHandler(listener)
    try:
        yield said
    finally:
        logger.removeHandler(listener)


async def test_a_service_that_could_not_store_everything_ends_with_data_lost(
    tmp_path: Path,
) -> None:
    # A one-page disk budget: the store is full as soon as its tables must grow.
    full = {"kind": "embedded", "max_size_mb": 0.000001, "buffer_records": 10}
    with writer_log_says("buffer full") as dropping, writer_log_says("write failed") as refused:
        async with service(tmp_path, service_fleet(full)) as (_, running):
            async with asyncio.timeout(WAIT_S):  # the buffer may fill before the first write
                await dropping.wait()
                await refused.wait()
            stop_the_service(running)
            async with asyncio.timeout(WAIT_S):
                lost = await running
    assert isinstance(lost, DataLost)
    assert lost.records > 0
    assert f"{lost.records} records were not stored" in str(lost)
    assert "database or disk is full" in str(lost)


async def test_a_taken_port_fails_the_start_before_anything_is_served(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        network = MemoryNetwork()
        network.listen("bus-1")  # the meters' end of the bus, never served: nothing is read
        options = ServiceOptions(
            data_dir=tmp_path / "var", listen=f"127.0.0.1:{port}", memory=network
        )
        config = parse_fleet_config(service_fleet(), "service-test.toml")
        announced: list[str] = []

        async def on_ready(url: str) -> None:
            announced.append(url)

        with pytest.raises(OSError, match="in use"):
            async with asyncio.timeout(WAIT_S):
                await serve(config, options, environ={READER_ENV: READER_TOKEN}, on_ready=on_ready)
    assert announced == []


def test_the_api_socket_disables_nagle_on_every_accepted_connection() -> None:
    listener = listen_socket("127.0.0.1", 0)
    with listener, socket.create_connection(listener.getsockname()[:2]):
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
