"""Meters behind a concentrator in the API, through the real producers: the concentrator
simulator dials in to the engine's master station over TCP, the engine's daily frozen pull
stores their days, and the API serves them as it serves DL/T 645 meters (listing, detail,
billing), with the pull's own completeness per terminal in ``/api/terminals``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx

from headend.api import create_app
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from simulators.concentrator.forwarding import MeterPort
from simulators.dlt645 import SimulatedMeter, SimulatedMeterConfig, StaticSource
from storage.embedded import SqliteStore
from tests.headend.api.fleet import ADMIN, OPERATOR, READER, TOKENS
from tests.support.concentrator_fleet import (
    KEEPS,
    NOW,
    POINTS,
    TODAY,
    TZ,
    concentrator_fleet,
    frozen_total,
)

TOTAL = "energy_active_import_total"
FORWARDED = {TOTAL: 1234.56, "voltage_a": 229.8}
"""What the meters behind the concentrator show when read through it."""
REGISTERS = 5
"""Total and four tariffs per meter-day."""


async def _collected(tmp_path: Path) -> dict[str, Any]:
    """The API's answers once the concentrator's kept days are stored, the terminal online."""
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    fleet = concentrator_fleet()
    # F161 only: the test counts the live readings of each day's forward registers.
    no_history = {"daily_reverse": False, "monthly_frozen": False, "curves": False}
    fleet["master"] |= no_history  # type: ignore[operator]
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
    frozen.missing.add(TODAY - timedelta(days=2))  # got only by the re-read pass below
    port = [
        SimulatedMeter(SimulatedMeterConfig(f"{p:012d}", StaticSource(FORWARDED), meter_id=f"m{p}"))
        for p in POINTS
    ]
    concentrator = SimulatedConcentrator(
        Address("4403", 12),
        frozen,
        lambda: NOW.replace(tzinfo=None),
        units_per_frame=2,
        forward_to=MeterPort(port, frozen, lambda: NOW),
    )
    live = engine.live.subscribe()
    server, pull = engine.terminal_server, engine.frozen_pull
    assert server is not None
    assert pull is not None
    answers: dict[str, Any] = {"truth": frozen}
    app = create_app(engine, tokens=TOKENS, store=store)
    async with asyncio.TaskGroup() as group:
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        async with asyncio.timeout(30):
            await server.listening.wait()
            dialler = group.create_task(concentrator.run("127.0.0.1", server.port))
            for _ in range(len(POINTS) * REGISTERS * (KEEPS - 1)):
                await live.get()
            frozen.missing.clear()
            await pull.run_pass(engine.clock.now())
            for _ in range(len(POINTS) * REGISTERS):
                await live.get()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
            first = (TODAY - timedelta(days=KEEPS - 1)).isoformat()
            period = {"start": first, "end": TODAY.isoformat()}
            answers["meters"] = (await http.get("/api/meters", headers=READER)).json()
            answers["m2"] = (await http.get("/api/meters/m2", headers=READER)).json()
            answers["billing"] = (
                await http.get("/api/billing", params={**period, "meter": "m2"}, headers=READER)
            ).json()
            answers["by_transformer"] = (
                await http.get(
                    "/api/billing", params={**period, "transformer": "T1"}, headers=READER
                )
            ).json()
            answers["csv"] = (
                await http.get("/api/billing.csv", params={**period, "meter": "m2"}, headers=READER)
            ).text
            answers["unknown"] = await http.get(
                "/api/billing", params={**period, "meter": "m9"}, headers=READER
            )
            answers["unknown_detail"] = await http.get("/api/meters/m9", headers=READER)
            answers["latest"] = (
                await http.get("/api/readings/latest", params={"meter": "m2"}, headers=READER)
            ).json()
            window = {
                "start": datetime.combine(TODAY - timedelta(days=KEEPS), time(), TZ).isoformat(),
                "end": NOW.isoformat(),
            }
            answers["history"] = (
                await http.get(
                    "/api/meters/m2/readings", params={**window, "quantity": TOTAL}, headers=READER
                )
            ).json()
            answers["bad_quantity"] = await http.get(
                "/api/meters/m2/readings", params={"quantity": "frequency"}, headers=READER
            )
            answers["terminals"] = (await http.get("/api/terminals", headers=READER)).json()
            answers["read"] = await http.post(
                "/api/meters/m2/read",
                json={"quantities": [TOTAL, "voltage_a"]},
                headers=OPERATOR,
            )
            answers["relay"] = await http.post(
                "/api/meters/m2/relay", json={"action": "trip"}, headers=OPERATOR
            )
            answers["audit"] = (
                await http.get("/api/audit", params={"meter": "m2"}, headers=OPERATOR)
            ).json()
            answers["same_id"] = await http.post(
                "/api/meters",
                headers=ADMIN,
                json={"id": "m2", "channel": "bus-1", "address": "000000000099", "plan": "home"},
            )
        engine.stop()
        await runner
        dialler.cancel()
    await store.aclose()
    return answers


async def test_concentrator_meters_are_listed_shown_billed_and_counted(tmp_path: Path) -> None:
    answers = await _collected(tmp_path)
    frozen: FrozenStore = answers["truth"]

    listed = {m["id"]: m for m in answers["meters"]}
    assert set(listed) == {f"m{p}" for p in POINTS}
    assert listed["m2"]["terminal"] == "jzq-T1"
    assert listed["m2"]["pn"] == 2
    assert listed["m2"]["transformer"] == "T1"
    assert listed["m2"]["channel"] is None
    assert listed["m2"]["status"] == "online"

    detail = answers["m2"]
    assert (detail["terminal"], detail["pn"], detail["status"]) == ("jzq-T1", 2, "online")
    assert detail["last_frozen_day"] == (TODAY - timedelta(days=1)).isoformat()
    assert detail["last_pull"] is not None
    assert TOTAL in {r["quantity"] for r in detail["latest"]}

    rows = {(r["day"], r["quantity"]): r for r in answers["billing"]["daily"]}
    for offset in range(1, KEEPS):
        day = TODAY - timedelta(days=offset)
        truth = frozen.frozen(2, day)
        assert truth is not None
        row = rows[((day + timedelta(days=1)).isoformat(), TOTAL)]  # frozen at the day's end
        assert (row["meter"], row["state"], row["value"]) == ("m2", "collected", truth[0])
        expected_quality = "actual" if offset == 1 else "backfilled"
        assert row["quality"] == expected_quality, row
    by_transformer = {r["meter"] for r in answers["by_transformer"]["daily"]}
    assert by_transformer == {f"m{p}" for p in POINTS}
    assert "000000000002" in answers["csv"]  # its address labels the CSV rows
    assert "flat-2" in answers["csv"]
    assert {r["meter"] for r in answers["latest"]} == {"m2"}

    assert answers["unknown"].status_code == 404
    assert "m9" in answers["unknown"].text
    assert answers["unknown_detail"].status_code == 404

    history = answers["history"]
    assert history["kind"] == "frozen"
    stored = [(p["timestamp"], p["value"]) for p in history["points"]]
    truths = []
    for offset in range(KEEPS, 0, -1):  # oldest first, as the history is sorted
        day = TODAY - timedelta(days=offset)
        truth = frozen.frozen(2, day)
        assert truth is not None
        frozen_at = datetime.combine(day + timedelta(days=1), time(), TZ)
        truths.append((frozen_at, truth[0]))
    assert [(datetime.fromisoformat(t), v) for t, v in stored] == truths
    bad = answers["bad_quantity"]
    assert bad.status_code == 422, bad.text
    assert "jzq-T1" in bad.text
    assert "frequency" in bad.text

    # Forwarded (AFN 10) to the meter, but it takes secured control and no [security] module
    # is set: refused before anything is sent or audited.
    relay = answers["relay"]
    assert relay.status_code == 409, relay.text
    assert "security module" in relay.text
    assert answers["audit"] == []
    # The concentrator's meters answer on-demand reads through it (AFN 10 forwarding).
    read = answers["read"]
    assert read.status_code == 200, read.text
    values = {r["quantity"]: r["value"] for r in read.json()}
    assert values == {TOTAL: FORWARDED[TOTAL], "voltage_a": FORWARDED["voltage_a"]}

    same_id = answers["same_id"]  # a bus meter may not take a concentrator meter's id
    assert same_id.status_code == 422, same_id.text
    assert "jzq-T1" in same_id.text

    (terminal,) = answers["terminals"]
    assert (terminal["name"], terminal["address"], terminal["status"]) == (
        "jzq-T1",
        "4403-00012",
        "online",
    )
    assert (terminal["meters"], terminal["keeps_days"]) == (len(POINTS), KEEPS)
    figures = terminal["completeness"]
    expected = len(POINTS) * KEEPS
    assert figures["expected"] == expected
    # Yesterday on the first attempt; the older kept days (and the hole) by re-reads.
    assert (figures["first_attempt"], figures["backfilled"], figures["missing"]) == (3, 9, 0)
    assert figures["first_attempt_rate"] == 3 / expected
    assert figures["success_rate"] == 1.0
    assert terminal["last_pull"] is not None
