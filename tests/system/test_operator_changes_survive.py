"""User stories of an operator and a fleet admin, run against real ``headend run`` processes
talking to simulated DL/T 645 meters behind a TCP gateway, with restarts and a kill -9.

- A fleet admin replaces a meter (换表), adds one and removes one; after a restart the fleet is
  as they left it, and the audit shows the replacement with both addresses, the old meter's
  final energy register and the new meter's first.
- An operator trips a household; the head-end is killed (SIGKILL) the moment the meter has the
  order, before the read-back. The audit file already held the intent, naming the operator, and
  after a restart ``/api/audit`` shows it with an ``unknown`` outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from protocols.dlt645 import Frame, Function
from simulators.dlt645 import (
    Burst,
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TcpGateway,
)
from transports.settings import Parity, SerialSettings

ADDRESSES = {"m1": "000000000001", "m2": "000000000002", "m3": "000000000003"}
ENERGY = {"m1": 1234.5, "m2": 2222.25, "m3": 0.5}
"""kWh on each simulated meter's import register (m3 is the new meter fitted in m2's place)."""
SECRETS = {
    "HEADEND_TEST_READER": "reader-secret-1",
    "HEADEND_TEST_OPERATOR": "operator-secret-1",
    "HEADEND_TEST_ADMIN": "admin-secret-1",
}
READER = {"Authorization": f"Bearer {SECRETS['HEADEND_TEST_READER']}"}
OPERATOR = {"Authorization": f"Bearer {SECRETS['HEADEND_TEST_OPERATOR']}"}
ADMIN = {"Authorization": f"Bearer {SECRETS['HEADEND_TEST_ADMIN']}"}
START_TIMEOUT = 60.0
"""Seconds a head-end gets to print its URL on a loaded 2-core machine; normally ~2 s."""

FLEET = """
[site]
name = "audit-story"
timezone = "Asia/Shanghai"

[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:{port}"
protocol = "dlt645-2007"
timeout = "300ms"
retries = 0

[[transformers]]
name = "T1"
rated_kva = 400

[plans.home]
[[plans.home.reads]]
quantities = ["voltage_a"]
interval = "1m"
[[plans.home.reads]]
quantities = ["energy_active_import_total"]
interval = "15m"
lane = "billing"

[[meters]]
id = "m1"
address = "000000000001"
channel = "bus-1"
plan = "home"
transformer = "T1"
control = "plaintext"

[[meters]]
id = "m2"
address = "000000000002"
channel = "bus-1"
plan = "home"
transformer = "T1"

[storage]
kind = "embedded"
path = "{store}"

[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "billing"
role = "reader"
token_env = "HEADEND_TEST_READER"
[[api.tokens]]
name = "control-room"
role = "operator"
token_env = "HEADEND_TEST_OPERATOR"
[[api.tokens]]
name = "fleet-admin"
role = "admin"
token_env = "HEADEND_TEST_ADMIN"
"""


class KillingBus(MeterBus):
    """The simulated bus; on a relay order it notes the head-end's audit file as it is at that
    moment, lets the meter act on the order, then kills the head-end (``kill_pid``)."""

    def __init__(self, meters: list[SimulatedMeter], audit_path: Path) -> None:
        super().__init__(meters, SerialSettings("sim", baud=9600, parity=Parity.NONE))
        self.audit_path = audit_path
        self.audit_at_relay: list[str] = []
        self.kill_pid: int | None = None

    def on_frame(self, frame: Frame, frame_end: float) -> list[Burst]:
        if frame.control.function != Function.RELAY_CONTROL:
            return super().on_frame(frame, frame_end)
        self.audit_at_relay.append(
            self.audit_path.read_text(encoding="utf-8") if self.audit_path.exists() else ""
        )
        replies = super().on_frame(frame, frame_end)  # the meter trips here
        if self.kill_pid is not None:
            os.kill(self.kill_pid, signal.SIGKILL)
        return replies


@dataclass
class Site:
    config: Path
    data_dir: Path
    bus: KillingBus


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    data_dir = tmp_path / "var"
    meters = [
        SimulatedMeter(
            SimulatedMeterConfig(
                address,
                StaticSource({"voltage_a": 230.0, "energy_active_import_total": ENERGY[m]}),
                meter_id=m,
                reply_delay=0.005,
            )
        )
        for m, address in ADDRESSES.items()
    ]
    bus = KillingBus(meters, data_dir / "audit.jsonl")
    async with TcpGateway(bus) as gateway:
        config = tmp_path / "fleet.toml"
        config.write_text(FLEET.format(port=gateway.port, store=tmp_path / "store.sqlite"))
        yield Site(config, data_dir, bus)


@dataclass
class Running:
    process: asyncio.subprocess.Process
    http: httpx.AsyncClient


@asynccontextmanager
async def headend_run(site: Site) -> AsyncIterator[Running]:
    """``headend run`` as an operator starts it; the block gets its API once it is up."""
    stderr = (site.data_dir.parent / "headend.stderr").open("ab")
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "headend"),
        "run",
        "--config",
        str(site.config),
        "--data-dir",
        str(site.data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, **SECRETS},
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            line = (await process.stdout.readline()).decode()
        assert "head-end running" in line, f"head-end did not start: {line!r}"
        url = line.rsplit(" ", 1)[-1].strip()
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield Running(process, http)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        stderr.close()


async def stop(running: Running) -> None:
    running.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(START_TIMEOUT):
        assert await running.process.wait() == 0


async def test_fleet_changes_and_a_meter_replacement_survive_a_restart(site: Site) -> None:
    async with headend_run(site) as first:
        swapped = {"id": "m2", "channel": "bus-1", "plan": "home", "transformer": "T1"}
        swapped["address"] = ADDRESSES["m3"]  # 换表: m2's household gets a new meter
        added = {**swapped, "id": "m4", "address": "000000000004"}
        for body in (swapped, added):
            response = await first.http.post("/api/meters", headers=ADMIN, json=body)
            assert response.status_code == 201, response.text
        assert (await first.http.delete("/api/meters/m1", headers=ADMIN)).status_code == 204
        await stop(first)

    async with headend_run(site) as second:
        meters = (await second.http.get("/api/meters", headers=READER)).json()
        assert {m["id"]: m["address"] for m in meters} == {
            "m2": ADDRESSES["m3"],
            "m4": "000000000004",
        }
        read = await second.http.post(
            "/api/meters/m2/read",
            headers=OPERATOR,
            json={"quantities": ["energy_active_import_total"]},
        )
        assert read.json()[0]["value"] == pytest.approx(ENERGY["m3"]), "m2 is read at its new meter"
        audit = (await second.http.get("/api/audit?meter=m2", headers=OPERATOR)).json()
        replaced = audit[0]
        assert (replaced["command"], replaced["outcome"], replaced["user"]) == (
            "meter replace",
            "ok",
            "fleet-admin",
        )
        facts = replaced["data"]
        assert (facts["old_address"], facts["new_address"]) == (
            f"address {ADDRESSES['m2']} on bus-1",
            f"address {ADDRESSES['m3']} on bus-1",
        )
        [final] = facts["final_read_old"]["readings"]
        [first_read] = facts["first_read_new"]["readings"]
        assert (final["quantity"], final["value"], final["unit"]) == (
            "energy_active_import_total",
            pytest.approx(ENERGY["m2"]),
            "kWh",
        )
        assert first_read["value"] == pytest.approx(ENERGY["m3"])
        await stop(second)


async def test_a_trip_cut_short_by_kill_9_is_on_record_with_its_user(site: Site) -> None:
    async with headend_run(site) as first:
        site.bus.kill_pid = first.process.pid
        with pytest.raises(httpx.HTTPError):  # the head-end dies before it can answer
            await first.http.post("/api/meters/m1/relay", headers=OPERATOR, json={"action": "trip"})
        assert await first.process.wait() == -signal.SIGKILL
    site.bus.kill_pid = None
    assert site.bus.meter("m1").relay_open, "the household is switched off"
    [on_disk] = site.bus.audit_at_relay
    intents = [json.loads(line) for line in on_disk.splitlines()]
    assert [(e["user"], e["meter"], e["command"], e["outcome"]) for e in intents] == [
        ("control-room", "m1", "relay trip", "intent")
    ], "the intent was on disk before the meter got the order"

    async with headend_run(site) as second:
        audit = (await second.http.get("/api/audit?meter=m1", headers=OPERATOR)).json()
        outcome, intent = audit
        assert (intent["user"], intent["command"], intent["outcome"]) == (
            "control-room",
            "relay trip",
            "intent",
        )
        assert (outcome["user"], outcome["outcome"], outcome["ref"]) == (
            "control-room",
            "unknown",
            intent["id"],
        )
        assert "check the meter" in outcome["detail"]
        await stop(second)
