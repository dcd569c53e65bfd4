"""The engine as a master station hears a concentrator's events: a simulated concentrator that
was powered off and cannot read one of its meters dials in over TCP; the engine's own server,
pull and watch make alarms of both and of the meter it has not read for days, and the API
shows them with the terminal's reading status (AFN 0C F11)."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx

from headend.api import create_app
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from protocols.gdw1376 import Address
from simulators.concentrator import (
    ConcentratorFaults,
    FrozenStore,
    SimulatedConcentrator,
    StoreMeter,
)
from simulators.concentrator.events import power_off_on
from simulators.concentrator.status import CARRIER_PORT
from storage.embedded import SqliteStore
from tests.headend.api.fleet import READER, TOKENS
from tests.support.concentrator_fleet import (
    KEEPS,
    NOW,
    POINTS,
    TODAY,
    concentrator_fleet,
    frozen_total,
)

UNREACHABLE = 2
WALL = NOW.replace(tzinfo=None)
OFF, ON = WALL.replace(minute=3), WALL.replace(minute=12)


async def test_power_off_read_failure_and_unread_meter_are_alarms_in_the_api(
    tmp_path: Path,
) -> None:
    fleet = concentrator_fleet()
    master = fleet["master"]
    assert isinstance(master, dict)
    master["unread_days"] = 2
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(fleet, "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl", writer_interval=0.05),
    )
    frozen = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS],
        frozen_total,
        lambda: TODAY,
        keeps_days=KEEPS,
    )
    frozen.unreachable.add(UNREACHABLE)
    concentrator = SimulatedConcentrator(
        Address("4403", 12),
        frozen,
        lambda: WALL,
        faults=ConcentratorFaults(events=[power_off_on(OFF, ON)]),
    )
    live = engine.live.subscribe()
    server, pull = engine.terminal_server, engine.frozen_pull
    assert server is not None
    assert pull is not None
    app = create_app(engine, tokens=TOKENS, store=store)
    answers: dict[str, Any] = {}
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        async with asyncio.timeout(30):
            await server.listening.wait()
            dialler = group.create_task(concentrator.run("127.0.0.1", server.port))
            await concentrator.logged_in.wait()
            await concentrator.pushes_confirmed.wait()  # ERC 14 and ERC 31 handled
            read = len(POINTS) - 1
            for _ in range(read * 5 * KEEPS):  # the login pass: every kept day, stored
                await live.get()
            await pull.run_pass(engine.clock.now())  # after a finished pass: unread judged
            await pull.run_pass(engine.clock.now())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
            answers["alarms"] = (
                await http.get("/api/alarms", params={"state": "recent"}, headers=READER)
            ).json()
            answers["terminals"] = (await http.get("/api/terminals", headers=READER)).json()
        engine.stop()
        await runner
        dialler.cancel()
    await store.aclose()

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for alarm in answers["alarms"]:
        by_kind.setdefault(alarm["kind"], []).append(alarm)
    (power,) = by_kind["terminal_power_off"]
    assert (power["subject_kind"], power["subject"], power["open"]) == (
        "terminal",
        "jzq-T1",
        False,
    )
    assert "ERC14" in power["message"]
    (failure,) = by_kind["rs485_read_failure"]
    assert (failure["subject"], failure["open"]) == (f"m{UNREACHABLE}", True)
    assert f"pn {UNREACHABLE}" in failure["message"]
    (unread,) = by_kind["meter_unread"]  # the only meter without a value: the unreachable one
    assert (unread["subject"], unread["open"]) == (f"m{UNREACHABLE}", True)
    (terminal,) = answers["terminals"]
    (port,) = terminal["reading_status"]["ports"]
    assert (port["port"], port["meters"], port["read_ok"]) == (CARRIER_PORT, len(POINTS), read)
    assert terminal["completeness"]["meters"] == len(POINTS)
