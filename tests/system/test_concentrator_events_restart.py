"""Story: the head-end of a concentrator community is restarted (an upgrade). ``headend simulate
--master --power-off 30 --unreachable-pn 2`` starts a concentrator that logged a power off/on
(ERC 14) and logs an RS-485 read failure (ERC 31) when it dials in; the first ``headend run``
raises both as alarms. The second run on the same data dir knows how far it read the
terminal's event rings (``terminal-events.json``): the concentrator's login still shows both
records in its EC, and the master neither reads them again nor raises them a second time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_master_simulation

SCENARIO = "smoke"
SEED = 5
START = "2026-07-18T00:10"
ERC_ALARMS = {"terminal_power_off", "rs485_read_failure"}
"""The alarms of the concentrator's two records (both important: its EC1 is 2)."""


def _raised(alarms: list[dict[str, Any]]) -> set[str]:
    return {a["kind"] for a in alarms} & ERC_ALARMS


def test_a_restarted_headend_does_not_raise_a_terminals_events_again(tmp_path: Path) -> None:
    simulation = start_master_simulation(
        SCENARIO,
        tmp_path,
        seed=SEED,
        extra=["--start", START, "--power-off", "30", "--unreachable-pn", "2"],
    )
    data_dir = tmp_path / "data"
    try:
        (terminal,) = simulation.config().terminals.values()
        first = start_headend(simulation, data_dir, port=free_tcp_port())
        try:
            first.wait_for(
                "/api/alarms",
                lambda alarms: _raised(alarms) == ERC_ALARMS,
                timeout=120,
                state="recent",
            )
        finally:
            assert first.stop() == 0, first.child.stderr()[-2000:]
        kept = json.loads((data_dir / "terminal-events.json").read_text())

        second = start_headend(simulation, data_dir, port=free_tcp_port(), name="run-2")
        try:
            # Its first pass is over: the read of missed events after login came before it.
            second.wait_for(
                "/api/terminals", lambda ts: ts[0]["last_pull"] is not None, timeout=120
            )
            again = second.get("/api/alarms", state="recent")
        finally:
            assert second.stop() == 0, second.child.stderr()[-2000:]
        kept_after = json.loads((data_dir / "terminal-events.json").read_text())
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    # Both records of the important ring, none of the normal one: what the concentrator logged.
    assert kept["terminals"] == {terminal.address: {"1": 2}}
    assert _raised(again) == set(), again
    assert kept_after == kept
