"""How the InfluxDB sinks treat server answers: retry transient ones, report permanent ones.

A scripted aiohttp server stands in for InfluxDB here because real servers cannot be made to
answer 429 or 503 on demand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web

from storage.errors import AuthError, BadLineError, SinkUnavailable
from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.records import Reading
from storage.retry import RetryPolicy
from storage.sink import LineSink

FAST = RetryPolicy(attempts=3, initial_delay_s=0.0, max_delay_s=0.0)
READING = Reading("M1", "voltage_a", 230.0, "V", datetime(2026, 3, 1, tzinfo=UTC))


@dataclass
class ScriptedServer:
    """Answers each write with the next scripted status (204 once the script is used up)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()  # aiohttp has already undone Content-Encoding: gzip
        self.bodies.append(raw.decode())
        self.paths.append(request.path)
        self.headers.append(dict(request.headers))
        status = self.statuses.pop(0) if self.statuses else 204
        extra = {"Retry-After": "0"} if status == 429 else {}
        return web.Response(status=status, text='{"message":"scripted"}', headers=extra)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    app = web.Application()
    app.router.add_post("/write", scripted.handle)
    app.router.add_post("/api/v2/write", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    scripted.url = f"http://{host}:{port}"
    yield scripted
    await runner.cleanup()


def _sinks(url: str) -> list[LineSink]:
    return [
        InfluxV1Sink(url, database="db", retry=FAST, batch_size=2),
        InfluxV2Sink(url, bucket="b", org="o", token="t", retry=FAST, batch_size=2),
    ]


@pytest.mark.parametrize("api", [0, 1], ids=["v1", "v2"])
async def test_transient_statuses_are_retried(server: ScriptedServer, api: int) -> None:
    server.statuses = [503, 429]
    sink = _sinks(server.url)[api]
    try:
        await sink.write([READING])
    finally:
        await sink.aclose()
    assert len(server.bodies) == 3
    assert server.bodies[-1].startswith("instant,meter=M1,")


@pytest.mark.parametrize("api", [0, 1], ids=["v1", "v2"])
async def test_persistent_outage_raises_sink_unavailable(server: ScriptedServer, api: int) -> None:
    server.statuses = [500, 502, 503]
    sink = _sinks(server.url)[api]
    try:
        with pytest.raises(SinkUnavailable, match="HTTP 503") as caught:
            await sink.write([READING])
    finally:
        await sink.aclose()
    assert caught.value.status == 503
    assert len(server.bodies) == FAST.attempts


@pytest.mark.parametrize(
    ("status", "error"), [(400, BadLineError), (401, AuthError), (403, AuthError)]
)
@pytest.mark.parametrize("api", [0, 1], ids=["v1", "v2"])
async def test_permanent_errors_are_distinct_and_not_retried(
    server: ScriptedServer, api: int, status: int, error: type[Exception]
) -> None:
    server.statuses = [status]
    sink = _sinks(server.url)[api]
    try:
        with pytest.raises(error, match=f"HTTP {status}"):
            await sink.write([READING])
    finally:
        await sink.aclose()
    assert len(server.bodies) == 1


async def test_unreachable_server_is_unavailable() -> None:
    from tests.support.ports import free_tcp_port

    sink = InfluxV1Sink(f"http://127.0.0.1:{free_tcp_port()}", database="db", retry=FAST)
    try:
        with pytest.raises(SinkUnavailable, match="InfluxDB v1"):
            await sink.write([READING])
    finally:
        await sink.aclose()


@pytest.mark.parametrize("api", [0, 1], ids=["v1", "v2"])
async def test_batches_are_split_gzipped_and_sent_in_order(
    server: ScriptedServer, api: int
) -> None:
    readings = [
        Reading(f"M{i}", "voltage_a", 230.0 + i, "V", datetime(2026, 3, 1, tzinfo=UTC))
        for i in range(5)
    ]
    sink = _sinks(server.url)[api]
    try:
        await sink.write(readings)
    finally:
        await sink.aclose()
    assert [body.count("\n") + 1 for body in server.bodies] == [2, 2, 1]
    meters = [line.split(",")[1] for body in server.bodies for line in body.splitlines()]
    assert meters == [f"meter=M{i}" for i in range(5)]
    assert all(headers.get("Content-Encoding") == "gzip" for headers in server.headers)
    assert server.paths[0] == ("/write" if api == 0 else "/api/v2/write")


@pytest.mark.parametrize("api", [0, 1], ids=["v1", "v2"])
async def test_a_failed_chunk_stops_the_write_with_its_own_error(
    server: ScriptedServer, api: int
) -> None:
    server.statuses = [204, 400]
    readings = [
        Reading(f"M{i}", "voltage_a", 230.0, "V", datetime(2026, 3, 1, tzinfo=UTC))
        for i in range(7)
    ]
    sink = _sinks(server.url)[api]
    try:
        with pytest.raises(BadLineError):
            await sink.write(readings)
    finally:
        await sink.aclose()
    assert len(server.bodies) == 2  # the chunks after the rejected one were never sent
