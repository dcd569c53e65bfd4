"""Orderly charging through the real processes: ``headend simulate smoke-lv`` (its 100 kVA
transformer measured by its LV meter over Modbus), ``headend run`` on the written config plus
an ``[ocpp]`` table, and three simulated OCPP 1.6J charge points connecting to it over real
WebSockets: two follow their profiles, one rejects them.

What it covers: the curb acts on the *measured* transformer load (limit 30 % of 100 kVA =
30 kW, so three 32 A chargers, 66 kW, must be curbed), every order is in the audit trail
(``/api/audit``) with the charger's answer, the rejecting charger recorded as such, and what
the chargers received matches the audit. What it does not: the chargers' draw is not part of
the community model's load (the simulator's transformer does not see the EVs), so the
transformer's truth is not compared with the limit here (docs/ocpp.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.ocpp.charger import EvSpec, Mode, SimulatedCharger
from tests.support.ports import free_tcp_port
from tests.system.processes import HeadEnd, Simulation, start_headend, start_simulation

SCENARIO = "smoke-lv"
SEED = 11
MODES: dict[str, Mode] = {"CP1": "follow", "CP2": "follow", "CP3": "reject"}
PASSWORD = "cp1-basic-auth-secret"
KW_PER_AMP = 0.69
LIMIT_KW = 30.0


def _ocpp_table(port: int) -> str:
    chargers = "".join(
        f"""
[[ocpp.chargers]]
id = "{name}"
transformer = "T1"
meter = "{name}-pile"
max_current = 32.0
{'password_env = "CP1_PASSWORD"' if name == "CP1" else ""}
"""
        for name in MODES
    )
    return f"""
[ocpp]
host = "127.0.0.1"
port = {port}
update_interval = "60s"
{chargers}
[[ocpp.curbs]]
transformer = "T1"
load_meter = "T1-LV"
load_includes_chargers = false
limit_percent = 30.0
stale_after = "30m"
"""


@pytest.fixture(scope="module")
def charging_simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulation]:
    running = start_simulation(
        SCENARIO, tmp_path_factory.mktemp("simulate-ocpp"), seed=SEED, extra=["--speed", "60"]
    )
    yield running
    code = running.child.stop()
    assert code == 0, f"simulate exited {code}: {running.child.stderr()[-2000:]}"


class ChargerFleet:
    """The simulated charge points on their own event loop (the test thread polls the API)."""

    def __init__(self, url: str) -> None:
        self.chargers = {
            name: SimulatedCharger(
                EvSpec(name, 32.0, 1000.0, mode=mode, password=PASSWORD if name == "CP1" else None),
                url,
                meter_interval=1.0,
            )
            for name, mode in MODES.items()
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.failure: BaseException | None = None

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(c.run()) for c in self.chargers.values()]
                await asyncio.to_thread(self._stop.wait)
                for task in tasks:
                    task.cancel()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc

    def __enter__(self) -> ChargerFleet:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _outcomes(entries: list[dict[str, Any]], charger: str) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if e["meter"] == charger and e["command"] == "set_charging_profile" and e["ref"]
    ]


def _all_curbed_on_measured_load(entries: list[dict[str, Any]]) -> bool:
    return all(
        any(e["data"].get("reason") == "shared" for e in _outcomes(entries, name)) for name in MODES
    )


def test_chargers_are_curbed_on_the_measured_load_and_every_order_audited(
    charging_simulation: Simulation, tmp_path: Path
) -> None:
    port = free_tcp_port()
    config = tmp_path / "fleet-ocpp.toml"
    config.write_text(charging_simulation.config_path.read_text() + _ocpp_table(port))
    simulation = dataclasses.replace(charging_simulation, config_path=config)
    headend: HeadEnd = start_headend(
        simulation,
        tmp_path / "data",
        port=free_tcp_port(),
        environ={"CP1_PASSWORD": PASSWORD},
    )
    try:
        with ChargerFleet(f"ws://127.0.0.1:{port}") as fleet:
            entries = headend.wait_for(
                "/api/audit", _all_curbed_on_measured_load, role="operator", limit=1000
            )
            truth = {name: list(c.truth.profiles) for name, c in fleet.chargers.items()}
            limits = {name: c.truth.limit for name, c in fleet.chargers.items()}
        assert fleet.failure is None, repr(fleet.failure)
    finally:
        assert headend.stop() == 0, headend.child.stderr()[-2000:]
    for name in MODES:
        shared = [e for e in _outcomes(entries, name) if e["data"]["reason"] == "shared"]
        newest = shared[0]  # newest first
        headroom = newest["data"]["headroom_kw"]
        # the measured base load is real and below the limit: some headroom, not all of it
        assert 0 < headroom < LIMIT_KW
        # three equal shares fit the headroom and curb a 32 A charger
        assert 3 * newest["data"]["limit_a"] * KW_PER_AMP <= headroom + 0.1
        assert newest["data"]["limit_a"] < 32.0
        # every order the charger answered reached it with the audited limit
        assert {e["data"]["limit_a"] for e in _outcomes(entries, name)} <= set(truth[name])
    for name in ("CP1", "CP2"):
        assert {e["outcome"] for e in _outcomes(entries, name)} == {"ok"}
        assert limits[name] is not None
    rejected = _outcomes(entries, "CP3")
    assert {(e["outcome"], e["detail"]) for e in rejected} == {("refused", "Rejected")}
    assert limits["CP3"] is None  # it kept charging at its own maximum
