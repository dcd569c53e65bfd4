"""Remote control (遥控) of a concentrator's control output through the real processes: an
operator trips turn 1 over HTTP with a reason, ``headend simulate --master`` prints that its
terminal opened that output, the audit has the intent before the outcome, and closing is then
allowed; an order without a reason is refused before anything is sent.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_master_simulation


def test_an_operator_trips_and_releases_a_terminals_control_output(tmp_path: Path) -> None:
    simulation = start_master_simulation("smoke", tmp_path, seed=3)
    try:
        (terminal,) = simulation.config().terminals.values()
        told = f"concentrator {terminal.name} switch"
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            headend.wait_for("/api/terminals", lambda ts: ts[0]["status"] == "online", timeout=120)
            url = headend.url.rstrip("/")
            headers = {"Authorization": f"Bearer {headend.tokens['operator']}"}
            unexplained = httpx.post(
                f"{url}/api/terminals/{terminal.name}/switches/1/trip", headers=headers, json={}
            )
            tripped = headend.request(
                "POST",
                f"/api/terminals/{terminal.name}/switches/1/trip",
                role="operator",
                json={"reason": "transformer overload", "alarm_delay_minutes": 5},
            ).json()
            trip_line = simulation.child.wait_for_line(lambda line: line.startswith(told))
            headend.request(
                "POST",
                f"/api/terminals/{terminal.name}/switches/1/allow_close",
                role="operator",
                json={"reason": "load back under the rating"},
            )
            close_line = simulation.child.wait_for_line(lambda line: line.startswith(told))
            audit = headend.get("/api/audit", role="operator", meter=terminal.name)
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    assert unexplained.status_code == 422, unexplained.text
    assert "reason" in unexplained.text
    assert (tripped["turn"], tripped["action"], tripped["user"]) == (1, "trip", "operator")
    assert trip_line == f"{told} 1 tripped"  # the simulator's own account
    assert close_line == f"{told} 1 close allowed"
    switch = [e for e in reversed(audit) if e["command"].startswith("terminal switch")]
    assert [(e["command"], e["outcome"]) for e in switch] == [
        ("terminal switch trip", "intent"),
        ("terminal switch trip", "ok"),
        ("terminal switch allow_close", "intent"),
        ("terminal switch allow_close", "ok"),
    ]
    assert switch[0]["detail"] == "turn 1: transformer overload"
    assert switch[0]["data"]["trip_control"] == 5  # no limit time, five minutes of alarm
