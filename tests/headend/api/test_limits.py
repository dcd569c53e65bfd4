"""What one client may cost: body size (413 before the token check and before parsing), the
number of live streams (503 with Retry-After), hardening headers, and the listening socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from headend.api import ApiLimits, create_app
from headend.config.api import DEFAULT_MAX_BODY_BYTES
from tests.headend.api.fleet import ADMIN, READER, TOKENS, WAIT_SECONDS, LiveFleet
from tests.headend.dashboard.server import serving

CHUNK = 64 * 1024


class CountingBody:
    """A request body that records how much of it the server pulled."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.sent += CHUNK
            yield b"x" * CHUNK


async def test_an_anonymous_body_declared_too_large_is_413_before_a_byte_is_read(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    body = CountingBody(32)
    declared = {"Content-Length": str(100 * 1024 * 1024), "Content-Type": "application/json"}
    response = await client.post("/api/meters", content=body, headers=declared)
    assert response.status_code == 413, "refused before the token check (401) or parsing (422)"
    assert body.sent == 0
    assert response.json()["detail"] == (
        "POST /api/meters: request body larger than 65536 bytes ([api] max_body_bytes)"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert len(fleet.engine.registry) == 2
    metrics = (await client.get("/metrics")).text
    assert 'headend_api_refused_total{reason="body_too_large"} 1' in metrics


async def test_a_streamed_body_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    body = CountingBody(32)  # 2 MiB, chunked: no Content-Length to refuse by
    response = await client.post(
        "/api/meters", content=body, headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "[api] max_body_bytes" in response.json()["detail"]
    assert body.sent <= DEFAULT_MAX_BODY_BYTES + CHUNK, "reading stopped at the limit"
    assert len(fleet.engine.registry) == 2


async def test_the_body_limit_is_configurable(fleet: LiveFleet) -> None:
    app = create_app(fleet.engine, tokens=TOKENS, limits=ApiLimits(max_body_bytes=16))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
        empty = await http.post("/api/meters/m1/read", headers=READER)
        assert empty.status_code == 403, "an empty body passes the limit, then the role check"
        response = await http.post(
            "/api/meters/m1/read", headers=READER, json={"quantities": ["voltage_a"]}
        )
    assert response.status_code == 413


async def test_live_streams_past_the_cap_get_503_with_retry_after(fleet: LiveFleet) -> None:
    app = create_app(fleet.engine, tokens=TOKENS, limits=ApiLimits(max_stream_clients=1))
    params = {"access_token": "reader-secret"}
    async with (
        serving(app) as url,
        httpx.AsyncClient(base_url=url, timeout=WAIT_SECONDS) as http,
        asyncio.timeout(WAIT_SECONDS),
    ):
        async with http.stream("GET", "/api/stream", params=params) as first:
            assert first.status_code == 200
            await anext(first.aiter_lines())  # the viewer is connected and holds its slot
            second = await http.get("/api/stream", params=params)
            assert second.status_code == 503
            assert int(second.headers["Retry-After"]) > 0
            metrics = (await http.get("/metrics")).text
            assert 'headend_api_refused_total{reason="stream_cap"} 1' in metrics
            assert "headend_api_stream_clients 1" in metrics
        await app.state.stream_slots.wait_free()  # the first viewer left: its slot is back
        async with http.stream("GET", "/api/stream", params=params) as third:
            assert third.status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/fleet", "/docs", "/openapi.json", "/health"])
async def test_every_answer_carries_the_hardening_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=READER)
    assert response.status_code == 200
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy.get("script-src", policy["default-src"]) == "'self'", "no inline scripts"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_a_route_without_a_body_refuses_an_oversized_one_before_it_acts(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    body = CountingBody(4)
    declared = {**ADMIN, "Content-Length": str(100 * 1024 * 1024)}
    response = await client.request("DELETE", "/api/meters/m2", content=body, headers=declared)
    assert response.status_code == 413
    assert body.sent == 0
    assert "m2" in fleet.engine.registry, "refused means not done"
