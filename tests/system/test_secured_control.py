"""Secured control as an operator and a fleet admin meet it: a real ``headend run`` with a
``[security]`` software module (master key from the environment) talking through a TCP gateway
to simulated State Grid meters whose ESAM stand-in holds the same key.

- The operator trips a household through the API with a reason: the meter's relay opens, and
  the audit has the intent and the outcome, both with the reason and the key version.
- A meter the fleet file wrongly sets to plaintext is refused by its ESAM; the API answers 502
  with a detail that says a secured meter refuses plaintext control.
- A meter clear without the confirmation is refused (422 naming ``confirm``) and the meter's
  energy register is untouched; confirmed, the register reads zero.
- ``headend control`` trips with ``--reason`` and refuses a clear without ``--confirm``.
- ``headend simulate`` on a scenario with a secured bus writes ``[security]``, and
  ``headend run`` on that file trips one of its meters.
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

import simulators
from simulators.dlt645 import (
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TcpGateway,
)
from simulators.dlt645.esam import EsamConfig
from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_simulation
from transports.settings import Parity, SerialSettings

MASTER_KEY = "8f1e2d3c4b5a69788796a5b4c3d2e1f0"
ADDRESSES = {"flat-1": "000000000011", "flat-2": "000000000012"}
ENERGY = 4321.5
SECRETS = {
    "HEADEND_TEST_OPERATOR": "operator-secret-1",
    "HEADEND_TEST_ADMIN": "admin-secret-1",
    "HEADEND_TEST_ESAM_KEY": MASTER_KEY,
}
OPERATOR = {"Authorization": f"Bearer {SECRETS['HEADEND_TEST_OPERATOR']}"}
ADMIN = {"Authorization": f"Bearer {SECRETS['HEADEND_TEST_ADMIN']}"}
START_TIMEOUT = 60.0
"""Seconds a head-end gets to print its URL on a loaded 2-core machine; normally ~2 s."""

FLEET = """
[site]
name = "secured-story"
timezone = "Asia/Shanghai"

[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:{port}"
protocol = "dlt645-2007"
timeout = "500ms"
retries = 0

[plans.home]
[[plans.home.reads]]
quantities = ["energy_active_import_total"]
interval = "15m"

[[meters]]
id = "flat-1"
address = "000000000011"
channel = "bus-1"
plan = "home"

[[meters]]
id = "flat-2"
address = "000000000012"
channel = "bus-1"
plan = "home"
control = "plaintext"

[security]
module = "software"
key_env = "HEADEND_TEST_ESAM_KEY"
key_version = 1

[storage]
kind = "embedded"
path = "{store}"

[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "control-room"
role = "operator"
token_env = "HEADEND_TEST_OPERATOR"
[[api.tokens]]
name = "fleet-admin"
role = "admin"
token_env = "HEADEND_TEST_ADMIN"
"""


@dataclass
class Site:
    config: Path
    data_dir: Path
    meters: dict[str, SimulatedMeter]


@pytest.fixture
async def secured_site(tmp_path: Path) -> AsyncIterator[Site]:
    meters = {
        m: SimulatedMeter(
            SimulatedMeterConfig(
                address,
                StaticSource({"energy_active_import_total": ENERGY}),
                meter_id=m,
                reply_delay=0.005,
                esam=EsamConfig(bytes.fromhex(MASTER_KEY)),
            )
        )
        for m, address in ADDRESSES.items()
    }
    bus = MeterBus(list(meters.values()), SerialSettings("sim", baud=9600, parity=Parity.NONE))
    async with TcpGateway(bus) as gateway:
        config = tmp_path / "fleet.toml"
        config.write_text(FLEET.format(port=gateway.port, store=tmp_path / "store.sqlite"))
        yield Site(config, tmp_path / "var", meters)


@asynccontextmanager
async def headend_run(site: Site) -> AsyncIterator[httpx.AsyncClient]:
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
            yield http
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(START_TIMEOUT):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        stderr.close()


async def test_an_operator_trips_a_secured_meter_with_a_reason(secured_site: Site) -> None:
    async with headend_run(secured_site) as http:
        response = await http.post(
            "/api/meters/flat-1/relay",
            headers=OPERATOR,
            json={"action": "trip", "reason": "unpaid since October"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "open"
        audit = (await http.get("/api/audit?meter=flat-1", headers=OPERATOR)).json()
    meter = secured_site.meters["flat-1"]
    assert meter.relay_open, "the household is switched off"
    assert meter.esam is not None
    assert meter.esam.authentications == 1
    outcome, intent = audit
    assert (intent["user"], intent["command"], intent["outcome"]) == (
        "control-room",
        "relay trip",
        "intent",
    )
    assert intent["data"] == {
        "control": "secured",
        "reason": "unpaid since October",
        "key_version": 1,
    }
    assert (outcome["outcome"], outcome["ref"]) == ("ok", intent["id"])
    assert outcome["data"]["reason"] == "unpaid since October"


async def test_plaintext_to_a_secured_meter_is_refused_with_the_cause(secured_site: Site) -> None:
    async with headend_run(secured_site) as http:
        response = await http.post(
            "/api/meters/flat-2/relay", headers=OPERATOR, json={"action": "trip", "reason": "x"}
        )
    assert response.status_code == 502
    body = response.json()
    assert body["reason"] == "error_response"
    assert "refuses plaintext control" in body["detail"]
    assert not secured_site.meters["flat-2"].relay_open


async def test_a_meter_clear_needs_an_admin_and_the_meter_named(secured_site: Site) -> None:
    order = {"order": "meter_clear", "reason": "meter re-installed"}
    async with headend_run(secured_site) as http:
        as_operator = await http.post(
            "/api/meters/flat-1/admin", headers=OPERATOR, json={**order, "confirm": "flat-1"}
        )
        unconfirmed = await http.post("/api/meters/flat-1/admin", headers=ADMIN, json=order)
        [before] = (
            await http.post(
                "/api/meters/flat-1/read",
                headers=OPERATOR,
                json={"quantities": ["energy_active_import_total"]},
            )
        ).json()
        confirmed = await http.post(
            "/api/meters/flat-1/admin", headers=ADMIN, json={**order, "confirm": "flat-1"}
        )
        [after] = (
            await http.post(
                "/api/meters/flat-1/read",
                headers=OPERATOR,
                json={"quantities": ["energy_active_import_total"]},
            )
        ).json()
        audit = (await http.get("/api/audit?meter=flat-1", headers=OPERATOR)).json()
    assert as_operator.status_code == 403
    assert unconfirmed.status_code == 422
    [problem] = unconfirmed.json()["detail"]
    assert problem["loc"] == ["body", "confirm"]
    assert "confirm it by naming the meter" in problem["msg"]
    assert before["value"] == pytest.approx(ENERGY), "the refused clear left the register alone"
    assert confirmed.status_code == 200, confirmed.text
    assert after["value"] == pytest.approx(0.0)
    assert [(e["command"], e["outcome"], e["user"]) for e in audit] == [
        ("meter clear", "ok", "fleet-admin"),
        ("meter clear", "intent", "fleet-admin"),
    ]


async def headend_control(url: str, token_env: str, *args: str) -> tuple[int, str, str]:
    """``headend control`` as a user types it (asynchronously: the gateway shares this loop)."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "headend"),
        "control",
        "--url",
        url,
        "--token-env",
        token_env,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **SECRETS},
    )
    async with asyncio.timeout(START_TIMEOUT):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_trips_with_a_reason_and_refuses_an_unconfirmed_clear(
    secured_site: Site,
) -> None:
    async with headend_run(secured_site) as http:
        url = str(http.base_url)
        trip = await headend_control(
            url, "HEADEND_TEST_OPERATOR", "relay", "flat-1", "trip", "--reason", "unpaid"
        )
        unconfirmed = await headend_control(url, "HEADEND_TEST_ADMIN", "meter-clear", "flat-1")
        audit = (await http.get("/api/audit?meter=flat-1", headers=OPERATOR)).json()
    code, out, _ = trip
    assert code == 0
    assert json.loads(out)["state"] == "open"
    assert secured_site.meters["flat-1"].relay_open
    assert [e["data"].get("reason") for e in audit] == ["unpaid", "unpaid"]
    code, _, err = unconfirmed
    assert code == 2
    assert "repeat the meter id with --confirm flat-1" in err
    assert secured_site.meters["flat-1"].energy_cleared_at is None
    assert [e["command"] for e in audit] == ["relay trip", "relay trip"], "no clear was sent"


SCENARIO_KEY_ENV = "HEADEND_TEST_SCENARIO_ESAM_KEY"


def test_headend_simulate_serves_secured_meters_that_headend_run_trips(tmp_path: Path) -> None:
    """``headend simulate`` on a scenario whose bus-S1 meters are secured (``esam_key_env``)
    writes a fleet file with ``[security]`` naming the same variable, and plaintext control
    for bus-S2; ``headend run`` on it trips an S1 meter, read back from the simulator."""
    smoke = Path(simulators.__file__).parent / "scenarios" / "smoke.toml"
    text = smoke.read_text(encoding="utf-8").replace(
        'bus = { id = "bus-S1", baud = 2400, parity = "E" }',
        'bus = { id = "bus-S1", baud = 2400, parity = "E", '
        f'esam_key_env = "{SCENARIO_KEY_ENV}" }}',
    )
    assert SCENARIO_KEY_ENV in text, "the smoke scenario's bus-S1 line moved"
    scenario = tmp_path / "secured-smoke.toml"
    scenario.write_text(text, encoding="utf-8")
    key = {SCENARIO_KEY_ENV: MASTER_KEY}
    simulation = start_simulation(str(scenario), tmp_path, seed=7, environ=key)
    try:
        config = simulation.config()
        assert config.security is not None
        assert config.security.key_env == SCENARIO_KEY_ENV
        controls = {m.channel: m.control for m in config.meters.values()}
        assert controls == {"bus-S1": "secured", "bus-S2": "plaintext"}
        target = next(m.id for m in config.meters.values() if m.channel == "bus-S1")
        headend = start_headend(simulation, tmp_path / "run", port=free_tcp_port(), environ=key)
        try:
            reply = headend.request(
                "POST",
                f"/api/meters/{target}/relay",
                role="operator",
                json={"action": "trip", "reason": "unpaid"},
            ).json()
            assert (reply["state"], reply["verified"]) == ("open", True)
            [outcome, intent] = headend.get(f"/api/audit?meter={target}", role="operator")
            assert intent["data"]["reason"] == outcome["data"]["reason"] == "unpaid"
            assert outcome["outcome"] == "ok"
        finally:
            assert headend.stop() == 0
    finally:
        simulation.child.stop()
