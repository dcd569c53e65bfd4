"""Which meters a backfill pass covers, and the seed from storage after a restart.

Passes over a real simulated DL/T 645 bus: tests/headend/engine/test_dlt645.py; the seed in a
full restart: tests/headend/collection/test_downtime.py."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headend.clock import WarpedClock
from headend.collection.backfill import FROZEN_TOTAL
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from storage.embedded import SqliteStore
from storage.errors import SinkUnavailable
from storage.records import Reading, ReadingKind
from tests.support.sinks import ListSink

START = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def fleet() -> dict[str, Any]:
    frozen = {"daily_frozen": True, "backfill_days": 3}
    reads = [{"quantities": ["voltage_a"], "interval": "1m"}]
    return {
        "site": {"name": "test", "timezone": "UTC"},
        "channels": [
            {"name": "bus-1", "url": "tcp://127.0.0.1:9"},
            {"name": "pile-bus", "url": "tcp://127.0.0.1:9", "protocol": "modbus"},
        ],
        "plans": {"frozen": {**frozen, "reads": reads}, "live": {"reads": reads}},
        "meters": [
            {"id": "m1", "channel": "bus-1", "address": "000000000001", "plan": "frozen"},
            {"id": "m2", "channel": "bus-1", "address": "000000000002", "plan": "live"},
            {
                "id": "pile-1",
                "channel": "pile-bus",
                "unit_id": 1,
                "register_map": "chint_dtsu666",
                "plan": "frozen",
            },
        ],
    }


async def engine() -> Engine:
    """Not running: the tests drive the passes themselves."""
    options = EngineOptions(maintenance=False)
    clock = WarpedClock(START, speed=1.0)
    return Engine(parse_fleet_config(fleet(), "test"), ListSink(), clock=clock, options=options)


async def test_a_pass_asks_only_dlt645_meters_whose_plan_wants_frozen_values() -> None:
    headend = await engine()
    asked: list[str] = []

    async def call(lane: object, name: str, action: object) -> object:
        asked.append(name)
        raise AssertionError("stop at the first request")

    for worker in headend.workers.values():
        worker.call = call  # type: ignore[method-assign, assignment]
    with pytest.raises(ExceptionGroup):
        await headend.backfill_passes.run_pass()
    assert asked == ["frozen m1"]


class DownStore:
    async def stored_points(self, *args: object) -> list[object]:
        raise SinkUnavailable("store down")


async def test_a_store_that_cannot_answer_leaves_the_seed_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headend = await engine()
    with caplog.at_level(logging.WARNING, "headend.collection.backfill_passes"):
        await headend.backfill_passes.seed(DownStore())  # type: ignore[arg-type]
    assert "cannot read stored frozen values: store down" in caplog.text
    assert headend.backfill.collected("m1") == set()


async def test_a_stored_freeze_is_not_read_again(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        yesterday = START.replace(hour=0) - timedelta(days=1)
        freeze = Reading("m1", FROZEN_TOTAL, 1234.5, "kWh", yesterday, ReadingKind.FROZEN)
        await store.write([freeze])
        headend = await engine()
        await headend.backfill_passes.seed(store)
    finally:
        await store.aclose()
    assert headend.backfill.collected("m1") == {date(2026, 11, 29)}
    missing = headend.backfill.missing_days("m1", date(2026, 11, 30), 3)
    assert date(2026, 11, 29) not in missing
    assert date(2026, 11, 28) in missing, "a day not stored is still read"
