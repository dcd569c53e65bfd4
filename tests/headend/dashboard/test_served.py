"""The dashboard files and the event stream over a real HTTP server."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.headend.api.fleet import WAIT_SECONDS


async def test_dashboard_page_and_assets_are_served_without_a_token(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for asset in ("/dashboard/app.js", "/dashboard/style.css"):
            assert asset in page.text
            assert (await http.get(asset)).status_code == 200
        assert (await http.get("/api/fleet")).status_code == 401, "the data still needs a token"


async def test_event_stream_accepts_the_token_as_a_query_parameter(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT_SECONDS) as http:
        refused = await http.get("/api/stream", params={"access_token": "wrong-token"})
        assert refused.status_code == 401
        params = {"access_token": "reader-secret"}
        async with (
            asyncio.timeout(WAIT_SECONDS),
            http.stream("GET", "/api/stream", params=params) as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            seen: dict[str, object] = {}
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    seen[event] = json.loads(line.removeprefix("data: "))
                if "reading" in seen:
                    break
    assert seen["alarms"] == []
    reading = seen["reading"]
    assert isinstance(reading, dict)
    assert reading["meter"] in {"m1", "m2"}
