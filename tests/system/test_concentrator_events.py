"""A concentrator's events as an operator sees them, end to end on real TCP: ``headend simulate
--master --power-off 30 --unreachable-pn 2`` starts a concentrator that was powered off for
half an hour up to the start and cannot read its meter at pn 2; it dials in to ``headend run``
on the written config. The operator sees over HTTP the power off/on (ERC 14, pushed, closed
at power on), the RS-485 read failure (ERC 31) and the meter the terminal has not read for days
as alarms naming the terminal, pn and meter, and the terminal's own reading status (AFN 0C
F11) next to the pull's completeness in ``/api/terminals``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_master_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 5
START = "2026-07-18T00:10"
POWER_OFF_MINUTES = 30
TOTAL = "energy_active_import_total"
UNREACHABLE = 2
BILLED = date(2026, 7, 17)
"""Billing shows the freeze at the end of the 16th on the 17th."""


def _unread(meter: str) -> Any:
    def matches(alarms: list[dict[str, Any]]) -> bool:
        return any(a["kind"] == "meter_unread" and a["subject"] == meter for a in alarms)

    return matches


def test_a_power_off_and_an_unread_meter_are_alarms_over_http(tmp_path: Path) -> None:
    simulation = start_master_simulation(
        SCENARIO,
        tmp_path,
        seed=SEED,
        extra=[
            "--start",
            START,
            "--power-off",
            str(POWER_OFF_MINUTES),
            "--unreachable-pn",
            str(UNREACHABLE),
        ],
    )
    try:
        config = simulation.config()
        (terminal,) = config.terminals.values()
        (unreachable,) = [m.id for m in terminal.meters if m.pn == UNREACHABLE]
        truth = GroundTruth(SCENARIO, SEED)
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            with headend.stream() as events:  # the second pass judges the first one's gaps
                open_now = events.next_alarms(_unread(unreachable), timeout=120)
            recent = headend.get("/api/alarms", state="recent")
            (counted,) = headend.get("/api/terminals")
            billing = headend.get(
                "/api/billing",
                transformer=terminal.transformer,
                start=BILLED.isoformat(),
                end=BILLED.isoformat(),
            )
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    (unread,) = [a for a in open_now if a["kind"] == "meter_unread"]
    assert unread["subject"] == unreachable
    assert f"terminal {terminal.name} pn {UNREACHABLE} (meter {unreachable})" in unread["message"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for alarm in recent:
        by_kind.setdefault(alarm["kind"], []).append(alarm)
    (power,) = by_kind["terminal_power_off"]  # pushed, read back after login: one alarm
    assert (power["subject_kind"], power["subject"], power["open"]) == (
        "terminal",
        terminal.name,
        False,
    )
    off, on = (datetime.fromisoformat(power[key]) for key in ("start", "end"))
    assert on - off == timedelta(minutes=POWER_OFF_MINUTES)
    started = datetime.fromisoformat(START).replace(tzinfo=truth.scenario.utc_offset)
    assert started - timedelta(minutes=POWER_OFF_MINUTES) <= off <= started
    (failure,) = by_kind["rs485_read_failure"]
    assert (failure["subject"], failure["open"]) == (unreachable, True)
    assert "ERC31" in failure["message"]
    others = {m.id for m in terminal.meters} - {unreachable}
    assert not any(a["subject"] in others for a in by_kind.get("meter_unread", []))
    (port,) = counted["reading_status"]["ports"]
    assert (port["meters"], port["read_ok"]) == (len(terminal.meters), len(terminal.meters) - 1)
    rows = {r["meter"]: r for r in billing["daily"] if r["quantity"] == TOTAL}
    assert rows[unreachable]["state"] != "collected"
    for meter in others:  # the rest are collected, equal to the model
        assert rows[meter]["value"] == round(truth.frozen(meter, BILLED), 4)
