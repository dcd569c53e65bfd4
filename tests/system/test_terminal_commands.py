"""Commands to a dial-in concentrator through the real processes: ``headend simulate --master
--terminal-drift`` starts a concentrator whose clock runs ten minutes fast; ``headend run``
checks its clock at login and sets it (audited), an operator asks for a clock check and
pauses and re-reads a port over HTTP, and the simulator prints what each command did to it.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_master_simulation

DRIFT_S = 600.0
TOLERANCE_S = 3.0
"""The terminal's clock shows whole seconds, and simulated time runs 60 times real time."""


def test_a_fast_terminal_clock_is_set_at_login_and_port_commands_reach_it(
    tmp_path: Path,
) -> None:
    simulation = start_master_simulation(
        "smoke", tmp_path, seed=3, extra=["--terminal-drift", str(DRIFT_S)]
    )
    try:
        (terminal,) = simulation.config().terminals.values()
        told = f"concentrator {terminal.name} "
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            synced = simulation.child.wait_for_line(lambda line: line.startswith(told + "clock"))
            (listed,) = headend.get("/api/terminals")
            audit = headend.get("/api/audit", role="operator", meter=terminal.name)
            asked = headend.request(
                "POST", f"/api/terminals/{terminal.name}/clock", role="operator"
            ).json()
            paused = headend.request(
                "POST",
                f"/api/terminals/{terminal.name}/ports/2/pause",
                role="operator",
                json={"reason": "meter exchange on the bus"},
            ).json()
            paused_line = simulation.child.wait_for_line(lambda line: line.startswith(told))
            headend.request(
                "POST", f"/api/terminals/{terminal.name}/ports/2/reread", role="operator"
            )
            reread_line = simulation.child.wait_for_line(lambda line: line.startswith(told))
            url = headend.url.rstrip("/")
            headers = {"Authorization": f"Bearer {headend.tokens['operator']}"}
            unknown = httpx.post(f"{url}/api/terminals/nope/clock", headers=headers)
            bad_port = httpx.post(
                f"{url}/api/terminals/{terminal.name}/ports/40/pause", headers=headers
            )
            reader = {"Authorization": f"Bearer {headend.tokens['reader']}"}
            forbidden = httpx.post(
                f"{url}/api/terminals/{terminal.name}/ports/2/resume", headers=reader
            )
            after = headend.get("/api/audit", role="operator", meter=terminal.name)
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]
    # The simulator's own account: its clock was set to within a few seconds.
    offset = float(synced.split("clock set: ")[1].split(" s off")[0])
    assert abs(offset) <= TOLERANCE_S, synced
    clock = listed["clock"]
    assert clock["synced"] is True
    assert abs(clock["drift_seconds"] - DRIFT_S) <= TOLERANCE_S, clock
    assert abs(clock["drift_after_seconds"]) <= TOLERANCE_S, clock
    sets = [
        (e["outcome"], e["user"]) for e in reversed(audit) if e["command"] == "terminal clock set"
    ]
    assert sets == [("intent", "scheduler"), ("ok", "scheduler")]
    # Asked again by the operator: within the threshold now, so read and left alone.
    assert asked["synced"] is False
    assert abs(asked["drift_seconds"]) <= TOLERANCE_S, asked
    assert paused["action"] == "pause"
    assert paused_line == told + "port 2 paused"
    assert reread_line == told + "port 2 re-read"
    pauses = [e for e in reversed(after) if e["command"] == "terminal port pause"]
    assert [e["outcome"] for e in pauses] == ["intent", "ok"]
    assert pauses[0]["detail"] == "port 2: meter exchange on the bus"
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "unknown terminal 'nope'")
    assert bad_port.status_code == 422
    assert forbidden.status_code == 403
    assert not [e for e in after if e["command"] == "terminal port resume"]
