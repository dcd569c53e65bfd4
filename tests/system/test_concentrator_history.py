"""Story: on the 1st of the month the master pulls a concentrator community's settlement
readings (the month's freeze, AFN 0D F177) and its meters' reverse registers (F163) besides the
day's forward ones. ``headend simulate --master --start 2026-08-01T00:20`` serves the smoke
community through its concentrator; ``headend run`` on the written config stores July's freeze
of every meter at the end of July and yesterday's reverse register at the end of yesterday,
both ``actual`` (the newest period, got on its first request), and (``[master] curves``
turned on in the written file) yesterday's curves, each point at its time and ``backfilled``,
all equal to the community model.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.ports import free_tcp_port
from tests.system.processes import HeadEnd, start_headend, start_master_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 5
START = "2026-08-01T00:20"
MONTH_END = date(2026, 8, 1)
"""July is frozen at 00:00 on 1 August; so is 31 July's day."""
SETTLEMENT = "settlement_energy_active_import_total"
REVERSE = "energy_active_export_total"
VOLTAGE_STEP = 0.05
"""Half the last digit of a curve's voltage (A.7, xxx.x)."""


def _history(headend: HeadEnd, meter: str, quantity: str, start: datetime) -> Any:
    return headend.get(
        f"/api/meters/{meter}/readings",
        quantity=quantity,
        kind="frozen",
        start=start.isoformat(),
        end=(start + timedelta(days=31)).isoformat(),
    )


def test_a_months_freeze_and_the_reverse_registers_are_pulled_from_the_concentrator(
    tmp_path: Path,
) -> None:
    simulation = start_master_simulation(SCENARIO, tmp_path, seed=SEED, extra=["--start", START])
    truth = GroundTruth(SCENARIO, SEED)
    tz = truth.scenario.utc_offset
    # 31 days (the API's most) up to 2 August: July's freeze and the reverse days kept.
    since = datetime(2026, 7, 2, tzinfo=tz)
    try:
        written = simulation.config_path.read_text()
        assert written.count("[master]\n") == 1
        # The curves are opt-in: the operator turns them on in the fleet file.
        simulation.config_path.write_text(
            written.replace("[master]\n", "[master]\ncurves = true\n")
        )
        (terminal,) = simulation.config().terminals.values()
        assert simulation.config().master.curves
        meters = [m.id for m in terminal.meters]
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            for meter in meters:  # the pass of the login stores them; the last one waits longest
                headend.wait_for(
                    f"/api/meters/{meter}/readings",
                    lambda h: bool(h["points"]),
                    timeout=120,
                    quantity=SETTLEMENT,
                    kind="frozen",
                    start=since.isoformat(),
                    end=(since + timedelta(days=31)).isoformat(),
                )
            day = {"start": MONTH_END - timedelta(days=1), "end": MONTH_END}
            window = {k: datetime.combine(v, datetime.min.time(), tz) for k, v in day.items()}
            curve = {k: v.isoformat() for k, v in window.items()}
            headend.wait_for(  # the currents are the last curve a pass asks for
                f"/api/meters/{meters[-1]}/readings",
                lambda h: bool(h["points"]),
                timeout=120,
                quantity="current_a",
                kind="instant",
                **curve,
            )
            voltages = {
                m: headend.get(
                    f"/api/meters/{m}/readings", quantity="voltage_a", kind="instant", **curve
                )
                for m in meters
            }
            settlement = {m: _history(headend, m, SETTLEMENT, since) for m in meters}
            reverse = {m: _history(headend, m, REVERSE, since) for m in meters}
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    frozen_at = datetime.combine(MONTH_END, datetime.min.time(), tz)
    community = truth.community_at(frozen_at + timedelta(minutes=1))
    for meter in meters:
        (july,) = settlement[meter]["points"]
        assert datetime.fromisoformat(july["timestamp"]) == frozen_at
        assert july["value"] == round(truth.frozen(meter, MONTH_END), 4), meter
        assert july["quality"] == "actual"
        stamps = {datetime.fromisoformat(p["timestamp"]): p for p in reverse[meter]["points"]}
        yesterday = stamps[frozen_at]  # 31 July's reverse register, frozen at its end
        exported = community.daily_frozen_export(meter, MONTH_END)
        assert exported is not None
        assert yesterday["value"] == round(exported, 4), meter
        assert yesterday["quality"] == "actual"
        assert all(p["quality"] == "backfilled" for t, p in stamps.items() if t != frozen_at)

    # 31 July's voltage curve: a point each 15 minutes the terminal kept (the last day's).
    slots = [window["start"] + timedelta(hours=h) for h in (6, 12, 18)]
    model = truth.community_at(slots[0])
    for slot in slots:
        model.advance_to(slot)
        for meter in meters:
            points = {datetime.fromisoformat(p["timestamp"]): p for p in voltages[meter]["points"]}
            point = points[slot]
            shown = model.meter_values(meter).voltage_a
            assert abs(point["value"] - shown) <= VOLTAGE_STEP + 1e-9, (meter, slot, point)
            assert point["quality"] == "backfilled"
