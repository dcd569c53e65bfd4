"""Story: the transformer-area team reads yesterday's line loss (台区线损) of T1, and a
household meter that stopped giving values stands out.

``headend simulate`` runs the smoke-lv community (six households, an EV pile and a public meter
on two DL/T 645 buses, the transformer's LV-side DTSU666 behind 200/5 CTs on a Modbus line) at
3600x, with one household meter (``SILENT``) refusing every read (an error reply, "no
requested data": fast, so its bus keeps its pace); ``headend archive import`` lists
the meters with their kinds and the LV meter's CT of 40; the fleet file gets ``[line_loss]
threshold_percent = 5``; ``headend run`` collects the daily freezes and the LV register every 5
simulated minutes until a whole local day has passed. ``/api/area/line-loss`` (and ``headend
line-loss DAY``, which prints it) must then give
the community model's truth: customers = the sum of the answering meters' freezes (D + 1 minus
D), supplied = the model's transformer register across the day, loss = the difference, which
is exactly the silent meter's day: the model has no cable losses (its transformer register is
the sum of its meters' registers). The figure is incomplete, names the silent meter as missing
and as the suspect of a loss above the site's threshold.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_tcp_port
from tests.system.processes import (
    REPO,
    HeadEnd,
    Simulation,
    cli,
    start_headend,
    start_simulation,
)
from tests.system.truth import GroundTruth

SCENARIO = "smoke-lv"
SILENT = "S2-H002"
THRESHOLD = 5.0
"""The site's threshold, below the silent household's share of the day (asserted)."""
SEED = 13
SPEED = 3600
"""A simulated hour per real second: a whole day in 24 s."""
START = "2026-07-15T14:00"
"""Site time: ten simulated hours (ten real seconds) for ``headend run`` to start before the
16th's midnight; a slower start moves the day judged to the next one."""
TRANSFORMER = "T1"
LV_METER = "T1-LV"
CT = 40.0
LV_INTERVAL = "5m"
"""The LV register's read interval (simulated), written into the fleet file for the test: the
export stretches every interval to what the DL/T 645 buses can do at 3600x (hours)."""
MEASURED_REACH = timedelta(minutes=15)
LATENCY = timedelta(minutes=3)
"""How late after its slot a read may be taken at 3600x: a few real milliseconds."""
TOTAL = "energy_active_import_total"
FREEZE_STEP = 0.005
"""Half the last digit of a DL/T 645 energy register (XXXXXX.XX)."""


def scenario_file(tmp_path: Path) -> Path:
    """The bundled smoke-lv community with ``SILENT`` refusing every read."""
    text = (REPO / "simulators" / "scenarios" / f"{SCENARIO}.toml").read_text()
    path = tmp_path / "silent.toml"
    fault = f'kind = "error_response"\nmeter = "{SILENT}"\nerror_word = 2'
    path.write_text(f"{text}\n[[faults]]\n{fault}\n")
    return path


def site_policy(simulation: Simulation) -> None:
    """The LV plan's energy read every ``LV_INTERVAL`` (its second read, the billing one) and
    the site's ``[line_loss]`` threshold, written into the exported fleet file."""
    text = simulation.config_path.read_text()
    section = text.index("[[plans.transformer_lv_chint_dtsu666.reads]]")
    billing = text.index("[[plans.transformer_lv_chint_dtsu666.reads]]", section + 1)
    interval = text.index("interval = ", billing)
    end = text.index("\n", interval)
    text = text[:interval] + f'interval = "{LV_INTERVAL}"' + text[end:]
    text += f"\n[line_loss]\nthreshold_percent = {THRESHOLD}\n"
    simulation.config_path.write_text(text)


def write_archive(path: Path, simulation: Simulation, truth: GroundTruth) -> None:
    kinds = {spec.id: spec.kind.value for spec in truth.scenario.meters}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "address", "channel", "kind", "transformer", "ct_ratio"])
        for meter in simulation.config().meters.values():
            if meter.id == LV_METER:
                writer.writerow([meter.id, "1", meter.channel, "transformer_lv", TRANSFORMER, CT])
            else:
                row = [meter.id, meter.address, meter.channel, kinds[meter.id], TRANSFORMER, 1]
                writer.writerow(row)


def wait_for_the_day(headend: HeadEnd, meters: list[str], tz: Any) -> date:
    """The first local day whose start the LV register was read before, once the households'
    freezes of both its boundaries and an LV read past its end are stored."""
    with headend.stream() as events:
        first = events.next_reading(lambda r: r["meter"] == LV_METER and r["quantity"] == TOTAL)
        seen = datetime.fromisoformat(first["timestamp"]).astimezone(tz)
        day = (seen + MEASURED_REACH).date() + timedelta(days=1)
        end = datetime.combine(day + timedelta(days=1), time(), tz)
        waiting = {(m, d) for m in meters for d in (day, day + timedelta(days=1))}
        waiting = {(m, d) for m, d in waiting if m != SILENT}
        lv_after = False
        while waiting or not lv_after:
            reading = events.next_reading(lambda r: r["quantity"] == TOTAL, timeout=120)
            at = datetime.fromisoformat(reading["timestamp"]).astimezone(tz)
            if reading["meter"] == LV_METER:
                lv_after = lv_after or at >= end + MEASURED_REACH
            elif reading["kind"] == "frozen":
                waiting.discard((reading["meter"], at.date()))
    return day


def test_the_line_loss_of_a_day_is_the_models_supply_minus_its_customers(tmp_path: Path) -> None:
    scenario = str(scenario_file(tmp_path))
    simulation = start_simulation(
        scenario, tmp_path, seed=SEED, extra=["--start", START, "--speed", f"{SPEED}"]
    )
    truth = GroundTruth(scenario, SEED)
    tz = truth.scenario.utc_offset
    data = tmp_path / "data"
    try:
        site_policy(simulation)
        sheet = tmp_path / "archive.csv"
        write_archive(sheet, simulation, truth)
        done = cli(["archive", "import", str(sheet), "--data-dir", str(data)])
        assert done.returncode == 0, done.stderr
        customers = [m for m in simulation.config().meters if m != LV_METER]
        headend = start_headend(simulation, data, port=free_tcp_port())
        try:
            day = wait_for_the_day(headend, customers, tz)
            answer = headend.get("/api/area/line-loss", day=day.isoformat())
            printed = cli(
                ["line-loss", day.isoformat(), "--url", headend.url],
                {"HEADEND_TOKEN_READER": simulation.tokens["reader"]},
            )
            missing = _status(headend, {"day": day.isoformat(), "transformer": "T9"})
            malformed = _status(headend, {"day": "2026-13-40", "transformer": TRANSFORMER})
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]
    assert (missing, malformed) == (404, 422)

    (figure,) = answer["line_loss"]
    assert figure["transformer"] == TRANSFORMER
    answering = [m for m in customers if m != SILENT]
    assert (figure["expected"], figure["included"]) == (len(customers), len(answering))
    assert figure["missing"] == [SILENT]

    # Customers: the model's freezes, day D + 1 minus day D, of every meter that answered.
    def used_by(meter: str) -> float:
        return truth.frozen(meter, day + timedelta(days=1)) - truth.frozen(meter, day)

    used = sum(used_by(m) for m in answering)
    freezes = 2 * FREEZE_STEP * len(answering)
    assert figure["customers_kwh"] == pytest.approx(used, abs=freezes)
    # Supplied: the model's transformer register, interpolated between the reads the answer
    # names, is what the head-end computed (CT applied once: the driver's, not the archive's).
    supplied = figure["supplied"]
    assert (supplied["meter"], supplied["source"], supplied["quality"]) == (
        LV_METER,
        "interval_reads",
        "actual",
    )
    boundaries = [supplied["start"], supplied["end"]]
    for boundary in boundaries:
        at = datetime.fromisoformat(boundary["at"])
        before, after = (datetime.fromisoformat(boundary[k]) for k in ("before", "after"))
        assert at - MEASURED_REACH <= before <= at <= after <= at + MEASURED_REACH, boundary
    start_at, end_at = (datetime.fromisoformat(b["at"]) for b in boundaries)
    assert (start_at, end_at) == (
        datetime.combine(day, time(), tz),
        datetime.combine(day + timedelta(days=1), time(), tz),
    )
    model = [lv_register(truth, at) for at in (start_at, end_at)]
    true_supply = model[1] - model[0]
    # A read is stamped with its slot but taken a few real milliseconds later: at 3600x up to
    # a few simulated minutes. What the transformer supplied in three minutes on either side
    # of the two boundaries bounds that (and a straight line between reads within them).
    slack = sum(
        lv_register(truth, at + LATENCY) - lv_register(truth, at - LATENCY)
        for at in (start_at, end_at)
    )
    assert supplied["kwh"] == pytest.approx(true_supply, abs=slack), (supplied, true_supply)
    # The model has no cable losses: its transformer register is its meters' registers summed,
    # so the loss is exactly the silent meter's day.
    assert true_supply == pytest.approx(used + used_by(SILENT), abs=1e-6)
    assert figure["loss_kwh"] == pytest.approx(true_supply - used, abs=slack + freezes)
    share = 100 * used_by(SILENT) / true_supply
    assert share > THRESHOLD + 1  # the case is one: the silent household's day is that large
    assert figure["loss_percent"] == pytest.approx(share, abs=100 * (slack + freezes) / used)
    assert (figure["quality"], figure["anomaly"]) == ("incomplete", "above_threshold")
    assert figure["threshold_percent"] == THRESHOLD
    assert [(s["meter"], s["reason"]) for s in figure["suspects"]] == [(SILENT, "missing")]
    # The CLI prints the same figure, a line per transformer and per suspect.
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == [
        f"{TRANSFORMER} {day}: supplied {supplied['kwh']:.3f} kWh, customers"
        f" {figure['customers_kwh']:.3f} kWh, loss {figure['loss_kwh']:.3f} kWh"
        f" ({figure['loss_percent']:.2f} %); incomplete ({len(answering)}/{len(customers)}"
        f" meters, missing {SILENT}); anomaly above_threshold (threshold {THRESHOLD:g} %)",
        f"  suspect {SILENT} missing: {figure['suspects'][0]['detail']}",
    ]


def lv_register(truth: GroundTruth, at: datetime) -> float:
    return truth.community_at(at).transformer_values(TRANSFORMER).energy_active_import_total


def _status(headend: HeadEnd, params: dict[str, str]) -> int:
    headers = {"Authorization": f"Bearer {headend.tokens['reader']}"}
    url = headend.url.rstrip("/") + "/api/area/line-loss"
    return httpx.get(url, params=params, headers=headers, timeout=30.0).status_code
