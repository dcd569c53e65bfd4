"""A reading shown live (SSE, dashboard, MQTT) is on disk: kill -9 right after seeing it
loses nothing, with the embedded store and with the outbox in front of a database."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

from headend.readings import ReadingKind
from storage.embedded import SqliteStore
from storage.line_protocol import from_ns
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
