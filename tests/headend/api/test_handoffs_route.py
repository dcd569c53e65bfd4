"""``GET /api/exports/handoffs`` and the hand-off's ``/metrics`` families on an engine with a
``[handoff]`` table (the pass run directly: its scheduling is tested on its own), and 503 on
one without."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import httpx

from headend.api import create_app
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from storage.embedded import SqliteStore
from storage.records import Quality, Reading, ReadingKind
from tests.headend.api.fleet import READER, TOKENS
from tests.support.concentrator_fleet import NOW, TODAY, TZ, concentrator_fleet

FREEZE = datetime.combine(TODAY, time(), TZ).astimezone(UTC)


async def test_the_route_lists_the_ledger_and_metrics_count(tmp_path: Path) -> None:
    document = concentrator_fleet()
    document["handoff"] = {"folder": str(tmp_path / "out"), "time": "00:10"}
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(document, "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl", handoff_dir=tmp_path),
        history=store,
    )
    try:
        await store.write(
            [Reading("m1", "energy_active_import_total", 850.5, "kWh", FREEZE, ReadingKind.FROZEN,
                     Quality.ACTUAL)]
        )  # fmt: skip
        assert engine.handoff is not None
        await engine.handoff.run_pass()
        app = create_app(engine, tokens=TOKENS, store=store, data_dir=tmp_path)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://headend", headers=READER
        ) as http:
            answer = await http.get("/api/exports/handoffs")
            metrics = (await http.get("/metrics")).text
            none = await http.get("/api/exports/handoffs", params={"start": "2026-12-03"})
    finally:
        await store.aclose()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (made,) = body["handoffs"]
    assert (made["day"], made["sequence"], made["kind"], made["rows"]) == (
        TODAY.isoformat(),
        0,
        "daily",
        1,
    )
    assert made["files"] == ["settlement-2026-12-02-00.csv", "kpi-2026-12-02-00.csv"]
    assert made["deliveries"][0]["destination"] == "folder"
    assert made["deliveries"][0]["state"] == "delivered"
    assert body["passes"] == 1
    assert body["folder"] == str(tmp_path / "out")
    assert none.json()["handoffs"] == []
    assert 'headend_handoffs_total{kind="daily"} 1.0' in metrics
    assert "headend_handoff_rows_total 1.0" in metrics


async def test_without_a_handoff_table_the_route_is_503(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(
        parse_fleet_config(concentrator_fleet(), "test"),
        store,
        clock=WarpedClock(NOW.astimezone(UTC), speed=1),
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl", handoff_dir=tmp_path),
        history=store,
    )
    try:
        app = create_app(engine, tokens=TOKENS, store=store, data_dir=tmp_path)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://headend", headers=READER
        ) as http:
            answer = await http.get("/api/exports/handoffs")
    finally:
        await store.aclose()
    assert answer.status_code == 503
    assert "[handoff]" in answer.text
