"""A concentrator community collected end to end on real TCP: ``headend simulate --master``
serves each transformer's meters through a Q/GDW 1376.1 concentrator that dials in to the
``headend run`` started on the written config. Login, the daily frozen pull, the re-read (补抄)
of a day the concentrator did not hold at first, and ``/api/billing`` showing each day's value
equal to the community model's freeze.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from tests.support.ports import free_tcp_port
from tests.system.processes import start_headend, start_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 5
START = "2026-07-18T00:10"
"""Site time: the concentrator holds the days 2026-07-14 .. 17 (the model starts on the 15th's
midnight), frozen at the ends of those days."""
LATE = date(2026, 7, 16)
"""Its first request for this day finds no record: only the master's re-read gets it."""
BILLING_DAYS = [date(2026, 7, 15) + timedelta(days=n) for n in range(4)]
TOTAL = "energy_active_import_total"


def test_concentrator_days_and_a_re_read_day_reach_billing_equal_to_the_model(
    tmp_path: Path,
) -> None:
    master = free_tcp_port()
    (tmp_path / "simulate").mkdir()
    simulation = start_simulation(
        SCENARIO,
        tmp_path / "simulate",
        seed=SEED,
        extra=["--start", START, "--master", f"127.0.0.1:{master}", "--late-day", LATE.isoformat()],
    )
    try:
        (line,) = [text for text in simulation.child.lines if text.startswith("concentrator ")]
        assert f"dials tcp://127.0.0.1:{master}" in line
        config = simulation.config()
        (terminal,) = config.terminals.values()
        assert config.meters == {}  # the meters are the concentrator's, not on a bus of ours
        meters = [m.id for m in terminal.meters]
        truth = GroundTruth(SCENARIO, SEED)
        headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
        try:
            re_read = datetime.combine(LATE + timedelta(days=1), datetime.min.time())
            waiting = set(meters)
            with headend.stream() as events:
                # Stored before the stream opened: in billing already; after: on the stream.
                before = headend.get(
                    "/api/billing",
                    transformer=terminal.transformer,
                    start=re_read.date().isoformat(),
                    end=re_read.date().isoformat(),
                )
                waiting -= {r["meter"] for r in before["daily"] if r["state"] == "collected"}
                while waiting:  # the late day arrives from the second pass, backfilled
                    reading = events.next_reading(
                        lambda r: (
                            r["kind"] == "frozen"
                            and r["quantity"] == TOTAL
                            and r["meter"] in waiting
                            and datetime.fromisoformat(r["timestamp"])
                            .astimezone(truth.scenario.utc_offset)
                            .replace(tzinfo=None)
                            == re_read
                        ),
                        timeout=120,
                    )
                    assert reading["quality"] == "backfilled", reading
                    waiting.discard(reading["meter"])
            report = headend.get(
                "/api/billing",
                transformer=terminal.transformer,
                start=BILLING_DAYS[0].isoformat(),
                end=BILLING_DAYS[-1].isoformat(),
                quantity=[TOTAL, "energy_active_import_t1"],
            )
            # A billing system pulls per meter: the concentrator's meters are first-class.
            billed = meters[0]
            per_meter = headend.get(
                "/api/billing",
                meter=billed,
                start=BILLING_DAYS[0].isoformat(),
                end=BILLING_DAYS[-1].isoformat(),
            )
            listed = {m["id"]: m for m in headend.get("/api/meters")}
            detail = headend.get(f"/api/meters/{billed}")
            (counted,) = headend.get("/api/terminals")
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]
    assert set(meters) <= set(listed)
    for behind in terminal.meters:
        assert (listed[behind.id]["terminal"], listed[behind.id]["pn"]) == (
            terminal.name,
            behind.pn,
        )
    assert (detail["terminal"], detail["status"]) == (terminal.name, "online")
    assert detail["last_frozen_day"] >= (BILLING_DAYS[-1] - timedelta(days=1)).isoformat()
    days = {r["day"]: r for r in per_meter["daily"] if r["quantity"] == TOTAL}
    assert sorted(days) == [day.isoformat() for day in BILLING_DAYS]
    for day in BILLING_DAYS:
        assert days[day.isoformat()]["value"] == round(truth.frozen(billed, day), 4), day
    assert counted["name"] == terminal.name
    assert counted["completeness"]["meters"] == len(meters)
    assert counted["completeness"]["first_attempt"] >= len(meters)  # yesterday's, first pull
    assert counted["completeness"]["backfilled"] >= len(meters)  # the late day, re-read
    rows = {(r["meter"], r["day"], r["quantity"]): r for r in report["daily"]}
    for meter in meters:
        for day in BILLING_DAYS:
            total = rows[(meter, day.isoformat(), TOTAL)]
            assert total["state"] == "collected", total
            assert total["value"] == round(truth.frozen(meter, day), 4), (total, day)
            peak = rows[(meter, day.isoformat(), "energy_active_import_t1")]
            assert peak["value"] == round(truth.frozen(meter, day) * 0.15, 4), peak
        latest = rows[(meter, BILLING_DAYS[-1].isoformat(), TOTAL)]
        assert latest["quality"] == "actual", latest  # yesterday, on the first pull
        late = rows[(meter, (LATE + timedelta(days=1)).isoformat(), TOTAL)]
        assert late["quality"] == "backfilled", late  # got by the re-read only
