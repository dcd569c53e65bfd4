"""A reading shown live (SSE, dashboard, MQTT) is on disk: kill -9 right after seeing it
loses nothing, with the embedded store and with the outbox in front of a database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from storage.embedded import SqliteStore
from storage.line_protocol import from_ns
from storage.records import ReadingKind
from storage.schema import MEASUREMENT_BY_KIND

REPO = Path(__file__).resolve().parents[2]


async def first_live_reading_then_kill(kind: str, path: Path) -> tuple[ReadingKind, str, str, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage.live_engine",
        kind,
        str(path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(60):
            line = await process.stdout.readline()
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    word, reading_kind, meter, quantity, ns = line.decode().split()
    assert word == "live"
    return ReadingKind(reading_kind), meter, quantity, int(ns)


async def test_kill_9_after_a_reading_was_seen_live_keeps_it_in_the_embedded_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    reading_kind, meter, quantity, ns = await first_live_reading_then_kill("embedded", path)
    store = await SqliteStore.open(path)  # the restart
    try:
        at = from_ns(ns)
        points = await store.stored_points(
            reading_kind, [meter], [quantity], at, at + timedelta(microseconds=1)
        )
    finally:
        await store.aclose()
    assert [(p.meter, p.quantity, p.timestamp) for p in points] == [(meter, quantity, at)]


async def test_kill_9_after_a_reading_was_seen_live_keeps_it_in_the_outbox(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    reading_kind, meter, quantity, ns = await first_live_reading_then_kill("outbox", path)
    measurement = MEASUREMENT_BY_KIND[reading_kind]
    with sqlite3.connect(path) as connection:
        payloads = [row[0] for row in connection.execute("SELECT payload FROM outbox")]
    lines = [line for payload in payloads for line in bytes(payload).decode().split("\n")]
    assert any(
        line.startswith(f"{measurement},meter={meter},quantity={quantity},")
        and line.endswith(f" {ns}")
        for line in lines
    )


TOKEN = "viewer-token-for-the-kill-test"
TOKENS = {
    f"HEADEND_TOKEN_{role}": f"{role.lower()}-token-for-the-kill-test"
    for role in ("ADMIN", "OPERATOR")
} | {"HEADEND_TOKEN_READER": TOKEN}
"""The written config's ``[api]`` reads one token per role from these variables."""


def headend(*args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from headend.cli import main; sys.exit(main(sys.argv[1:]))",
        *args,
    ]


async def first_line_with(stream: asyncio.StreamReader, text: str) -> str:
    while True:
        line = (await stream.readline()).decode()
        assert line, f"process ended before printing {text!r}"
        if text in line:
            return line


async def test_kill_9_of_headend_run_after_a_reading_reached_the_live_stream(
    tmp_path: Path,
) -> None:
    config = tmp_path / "fleet.toml"
    simulator = await asyncio.create_subprocess_exec(
        *headend("simulate", "smoke", "--write-config", str(config)),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **TOKENS},
    )
    run: asyncio.subprocess.Process | None = None
    try:
        assert simulator.stdout is not None
        async with asyncio.timeout(60):
            await first_line_with(simulator.stdout, "ready")
        run = await asyncio.create_subprocess_exec(
            *headend(
                "run",
                "--config",
                str(config),
                "--data-dir",
                str(tmp_path / "var"),
                "--listen",
                "127.0.0.1:0",
            ),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **TOKENS},
        )
        assert run.stdout is not None
        async with asyncio.timeout(60):
            url = (await first_line_with(run.stdout, "head-end running")).split()[-1]
            seen = await first_live_reading(url)
        run.send_signal(signal.SIGKILL)  # right after a reading was shown live
        await run.wait()
    finally:
        for process in (run, simulator):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
    store = await SqliteStore.open(tmp_path / "var" / "headend.sqlite")  # the restart
    try:
        at = datetime.fromisoformat(seen["timestamp"])
        points = await store.stored_points(
            ReadingKind(seen["kind"]),
            [seen["meter"]],
            [seen["quantity"]],
            at,
            at + timedelta(microseconds=1),
        )
    finally:
        await store.aclose()
    assert [(p.meter, p.value) for p in points] == [(seen["meter"], seen["value"])]


async def first_live_reading(url: str) -> dict[str, Any]:
    """The first reading the dashboard's event stream shows."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client,
        client.stream("GET", "/api/stream") as response,
    ):
        assert response.status_code == 200
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "reading":
                reading: dict[str, Any] = json.loads(line.removeprefix("data: "))
                return reading
    raise AssertionError("the live stream ended without a reading")
