"""``headend run`` against ``headend simulate`` with a plan that names record items: the
maximum demand comes through the live stream as its value in kW, and the meter's cover-open
log is stored as events with their start and end (published on MQTT once stored); both
compared with what the simulated meter holds (its ``StoredRegisters``, a pure function of its
address)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import pytest
import tomli_w

from protocols.dlt645 import catalogue
from simulators.dlt645.sources import StoredRegisters
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_tcp_port
from tests.system.processes import HeadEnd, Simulation, start_headend

METER = "S1-H002"
DEMAND = "demand_active_import_total"
LOG = "cover_open"


def with_records(simulation: Simulation, tmp_path: Path) -> Simulation:
    """The written config, the plan of ``METER`` also reading the demand and the cover-open
    log (every 15 simulated minutes: the buses of the smoke scenario have little room left)."""
    document: dict[str, Any] = tomllib.loads(simulation.config_path.read_text())
    plan = document["plans"][simulation.config().meters[METER].plan]
    plan.setdefault("reads", []).append(
        {"quantities": [DEMAND], "interval": "15m", "lane": "billing"}
    )
    plan["events"] = [LOG]
    path = tmp_path / "fleet-records.toml"
    path.write_text(tomli_w.dumps(document))
    return dataclasses.replace(simulation, config_path=path)


def test_demand_and_the_event_log_are_collected_equal_to_the_simulators(
    simulation: Simulation, broker: MosquittoBroker, tmp_path: Path
) -> None:
    edited = with_records(simulation, tmp_path)
    meter = simulation.config().meters[METER]
    zone = ZoneInfo(simulation.config().timezone)
    stored = StoredRegisters(str(meter.address))
    log_item = catalogue().by_name(LOG)
    demand, published = asyncio.run(_run(edited, broker, tmp_path / "data", 2 * log_item.history))

    item = catalogue().by_name(DEMAND)
    value_format = item.parts[0].format
    assert demand["unit"] == "kW"
    assert demand["quality"] == "actual"
    assert demand["value"] == pytest.approx(stored.value(DEMAND, 0, value_format))
    # The live stream's rows carry no tags; the record_time tag is checked at the reader
    # (tests/headend/drivers/dlt645/test_record_items.py).

    start_format = log_item.part_of(LOG + "_start").format
    expected = set()
    for record in range(1, log_item.history + 1):
        start = stored.value(LOG + "_start", record, start_format)
        end = stored.value(LOG + "_end", record, start_format)
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        expected |= {(start.replace(tzinfo=zone), True), (end.replace(tzinfo=zone), False)}
    # Published on MQTT once stored: each record's start and end, once.
    got = [(datetime.fromisoformat(e["timestamp"]), e["active"]) for e in published]
    assert set(got) == expected
    assert len(got) == len(expected)
    assert {e["meter"] for e in published} == {METER}


async def _run(
    edited: Simulation, broker: MosquittoBroker, data_dir: Path, events: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``headend run`` on ``edited``: the first live demand reading of ``METER``, and the
    first ``events`` cover-open events it publishes (subscribed before it starts)."""
    topic = f"headend/events/{METER}/{LOG}"
    async with aiomqtt.Client(broker.host, broker.port, identifier="records-test") as client:
        await client.subscribe(topic, qos=1)
        running = await asyncio.to_thread(
            start_headend, edited, data_dir, port=free_tcp_port(), name="records"
        )
        try:
            demand = await asyncio.to_thread(_first_demand, running)
            published: list[dict[str, Any]] = []
            async with asyncio.timeout(90):  # a broken pass fails the test, not hangs it
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    published.append(json.loads(message.payload))
                    if len(published) == events:
                        break
        finally:
            code = await asyncio.to_thread(running.stop)
        assert code == 0, running.child.stderr()[-2000:]
    return demand, published


def _first_demand(running: HeadEnd) -> dict[str, Any]:
    with running.stream() as live:
        return live.next_reading(lambda r: r["meter"] == METER and r["quantity"] == DEMAND)
