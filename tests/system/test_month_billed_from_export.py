"""Story: the billing system (营销) bills June from the settlement export alone.

The June of ``test_vee_billing`` (``headend simulate --master`` on the smoke community with one
day freeze lost and one meter replaced, the archive imported, the crew's exchange reads
recorded, ``headend run`` pulling the month) is polled as a billing integrator does:
``/api/exports/settlement.csv`` from ``since=0`` with a small page, each answer's
``X-Next-Cursor`` the next ``since``, until ``X-More`` is false. From those rows alone, each
usage point's June per tariff is its July 1st freeze minus its June 1st freeze plus, for each
exchange in the month, the old meter's final read minus the new meter's initial read (the same
as old-final - old-start + new-end - new-initial), compared with the community model's freezes.
The scenario is ``smoke-lv``: the transformer's LV meter is the concentrator's last point. The
MeterReadings XML holds the same freezes (the estimated ones as 2.8.0), the new meter's under
its own id.
The lost freeze is in the export estimated and flagged (its rule and the real freezes it lies
between), as billing's own VEE estimates the two days around it; the daily customers' energy
per transformer (``/api/area/line-loss``) of every June day is the model's: supplied (the LV
meter's freezes times its CT) minus customers, none on a day of real freezes, the exchange day
included.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.community.model import Community
from simulators.concentrator.store import tariff_split
from simulators.scenario import load_scenario
from storage.exports.cim_meter_readings import NAMESPACE
from tests.support.ports import free_tcp_port
from tests.system.june_community import (
    ALL_DAYS,
    EXCHANGE_DAY,
    EXCHANGED_AT,
    JUNE,
    LOST,
    LOST_DAY,
    NEW_METER,
    QUANTITIES,
    REPLACED,
    SEED,
    START,
    TOTAL,
    model_freezes,
    old_meter_final,
    scenario_file,
    wait_for_the_month,
)
from tests.system.processes import (
    HeadEnd,
    cli,
    start_headend,
    start_master_simulation,
)

PAGE = 97
"""Rows per poll: small and odd, so pages end in the middle of a meter's day."""
NS = {"m": NAMESPACE}
SCENARIO = "smoke-lv"
"""The smoke community with the transformer's LV meter: behind the concentrator (its last pn)
with ``--master``, so the concentrator holds a month of its freezes too."""
LV_METER = "T1-LV"
TRANSFORMER = "T1"
SUPPLY_STEP = 2 * 0.00005 * 40.0
"""Two A.14 freezes' rounding (0.0001 kWh secondary) times the LV meter's CT of 40."""


def write_archive(path: Path, meters: list[Any], ct: float) -> None:
    """The billing office's archive: the households, and the LV meter with its kind and CT."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "address", "terminal", "pn", "kind", "transformer", "ct_ratio"])
        for m in meters:
            kind, ratio = ("transformer_lv", ct) if m.id == LV_METER else ("household", 1.0)
            writer.writerow([m.id, m.address, m.terminal, m.pn, kind, m.transformer, ratio])


def lv_truth(scenario: Path) -> tuple[float, dict[date, float]]:
    """The LV meter's CT x PT and the model's transformer register at each billing day's
    freeze (primary kWh): no cable losses, a replaced meter's energy kept."""
    loaded = load_scenario(str(scenario))
    community = Community.from_scenario(loaded, SEED)
    community.advance_to(datetime(2026, 7, 1, 0, 0, 1, tzinfo=loaded.utc_offset))
    ((_, lv),) = loaded.lv_meters
    registers = {}
    for day in ALL_DAYS:
        register = community.transformer_frozen(TRANSFORMER, day)
        assert register is not None
        registers[day] = register
    return lv.ct_ratio * lv.pt_ratio, registers


def poll_settlement(headend: HeadEnd) -> tuple[list[dict[str, str]], int]:
    """Every row of the settlement export, polled with the cursor; and how many polls."""
    rows: list[dict[str, str]] = []
    since, polls = 0, 0
    while True:
        answer = headend.request(
            "GET", "/api/exports/settlement.csv", params={"since": since, "limit": PAGE}
        )
        polls += 1
        page = list(csv.DictReader(io.StringIO(answer.text)))
        assert all(int(r["seq"]) > since for r in page)
        rows += page
        since = int(answer.headers["X-Next-Cursor"])
        if answer.headers["X-More"] != "true":
            return rows, polls


def xml_freezes(headend: HeadEnd) -> list[tuple[str, str]]:
    """(meter, reading quality type) of every reading the MeterReadings export holds."""
    answer = headend.request(
        "GET", "/api/exports/meter-readings", params={"since": 0, "limit": 50_000}
    )
    document = ET.fromstring(answer.content)
    assert answer.headers["X-More"] == "false"
    found = []
    for meter_reading in document.findall("m:MeterReading", NS):
        meter = meter_reading.findtext("m:Meter/m:mRID", namespaces=NS) or ""
        for values in meter_reading.findall("m:Readings", NS):
            quality = values.find("m:ReadingQualities/m:ReadingQualityType", NS)
            assert quality is not None
            found.append((meter, quality.get("ref") or ""))
    return found


def bill_june(rows: list[dict[str, str]]) -> dict[tuple[str, str], tuple[float, int]]:
    """(usage point, register) -> (June's consumption, exchanges bridged), from the rows alone.

    The last row of each (meter, register, instant, reading) wins (a correction comes later).
    """
    latest: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: int(r["seq"])):
        latest[(row["meter"], row["quantity"], row["timestamp_utc"], row["reading"])] = row
    freezes: dict[tuple[str, str, str], float] = {}
    crossings: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in latest.values():
        if row["kind"] == "transformer_lv":
            continue  # the supply: no one's bill
        point, quantity, value = row["usage_point"], row["quantity"], float(row["value"])
        if row["reading"] == "daily_freeze":
            freezes[(point, quantity, row["day"])] = value * float(row["multiplier"])
        elif row["day"][:7] == "2026-06":  # an exchange in June
            sign = 1.0 if row["reading"] == "exchange_final" else -1.0
            crossings[(point, quantity)].append(sign * value * float(row["multiplier"]))
    first, last = JUNE[0].isoformat(), ALL_DAYS[-1].isoformat()
    billed = {}
    for point, quantity, day in freezes:
        if day != first:
            continue
        bridged = crossings.get((point, quantity), [])
        used = freezes[(point, quantity, last)] - freezes[(point, quantity, first)] + sum(bridged)
        billed[(point, quantity)] = (used, len(bridged) // 2)
    return billed


def test_june_billed_from_the_settlement_export_equals_the_model(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path, SCENARIO)
    ratio, supply_registers = lv_truth(scenario)
    simulation = start_master_simulation(
        str(scenario), tmp_path, seed=SEED, extra=["--start", START]
    )
    data = tmp_path / "data"
    try:
        (terminal,) = simulation.config().terminals.values()
        meters = [m.id for m in terminal.meters]
        sheet = tmp_path / "archive.csv"
        assert meters[-1] == LV_METER
        write_archive(sheet, list(terminal.meters), ratio)
        done = cli(["archive", "import", str(sheet), "--data-dir", str(data)])
        assert done.returncode == 0, done.stderr
        final = dict(zip(QUANTITIES, tariff_split(old_meter_final(scenario)), strict=True))
        exchange = ["archive", "exchange", REPLACED, NEW_METER, "--at", EXCHANGED_AT]
        for quantity, value in final.items():
            exchange += ["--old-final", f"{quantity}={value}", "--new-initial", f"{quantity}=0"]
        exchange += ["--new-address", "000000000199", "--reason", "display fault"]
        done = cli([*exchange, "--data-dir", str(data)])
        assert done.returncode == 0, done.stderr
        headend = start_headend(simulation, data, port=free_tcp_port())
        try:
            wait_for_the_month(headend, terminal.transformer, meters)
            rows, polls = poll_settlement(headend)
            again, _ = poll_settlement(headend)  # a second poll from 0 logs nothing new
            in_xml = xml_freezes(headend)
            period = {"start": JUNE[0].isoformat(), "end": JUNE[-1].isoformat()}
            billed_daily = headend.get("/api/billing/consumption", meter=LOST, **period)
            losses = {
                day: headend.get(
                    "/api/area/line-loss", day=day.isoformat(), transformer=TRANSFORMER
                )["line_loss"][0]
                for day in JUNE
            }
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]
    truth = model_freezes(scenario)

    # The cursor paged the whole log without gaps or duplicates, and polling again from 0
    # gave exactly the same rows (the exchange reads were logged once).
    seqs = [int(r["seq"]) for r in rows]
    assert seqs == sorted(set(seqs))
    assert polls == len(rows) // PAGE + 1
    assert again == rows
    # The terminal pull also stores the export register (F163) and the month's settlement
    # freeze (F177); the bill is of the daily import registers, the XML carries those only.
    others = [r for r in rows if r["quantity"] not in QUANTITIES]
    assert {r["quantity"].rsplit("_", 1)[0] for r in others} == {
        "energy_active_export",
        "settlement_energy_active_import",
    }
    assert {(r["meter"], r["day"]) for r in others if r["quality"] == "estimated"} == {
        (LOST, str(LOST_DAY))  # the lost day's export freezes too; a month freeze never
    }
    rows = [r for r in rows if r["quantity"] in QUANTITIES]
    freezes = [r for r in rows if r["reading"] == "daily_freeze"]
    exchange_rows = [r for r in rows if r["reading"] != "daily_freeze"]
    assert len(in_xml) == len(freezes)  # the XML carries the freezes, not the crew's reads
    # ... the lost day's five registers as estimated by the metering system (2.8.0)
    assert [m for m, q in in_xml if q == "2.8.0"] == [LOST] * len(QUANTITIES)
    assert {m for m, _ in in_xml} == {*meters, NEW_METER}
    assert [(r["meter"], r["reading"], r["linked_meter"]) for r in exchange_rows] == [
        (REPLACED, "exchange_final", NEW_METER)
    ] * len(QUANTITIES) + [(NEW_METER, "exchange_initial", REPLACED)] * len(QUANTITIES)
    assert {r["usage_point"] for r in exchange_rows} == {REPLACED}
    assert {r["timestamp_local"] for r in exchange_rows} == {EXCHANGED_AT}

    # June per usage point and tariff, from the rows alone, equals the model.
    billed = bill_june(rows)
    customers = meters[:-1]
    assert {point for point, _ in billed} == set(customers)
    assert {r["kind"] for r in rows if r["meter"] == LV_METER} == {"transformer_lv"}
    assert {r["kind"] for r in rows if r["meter"] != LV_METER} == {"household"}
    for meter in customers:
        for index, quantity in enumerate(QUANTITIES):
            used, exchanges = billed[(meter, quantity)]
            start, end = truth[(meter, JUNE[0])][index], truth[(meter, ALL_DAYS[-1])][index]
            expected = end - start
            if meter == REPLACED:
                assert exchanges == 1
                expected = final[quantity] - start + end - 0.0
            assert used == pytest.approx(expected, abs=1e-3), (meter, quantity)
    assert truth[(REPLACED, ALL_DAYS[-1])][0] < truth[(REPLACED, JUNE[0])][0]  # it restarted

    # Every freeze the model made is exported once with its value; the lost one never is.
    exported = {
        (r["usage_point"], r["quantity"], r["day"]): (float(r["value"]), r["quality"])
        for r in freezes
    }
    assert len(exported) == len(freezes)
    for (meter, day), split in truth.items():
        for index, quantity in enumerate(QUANTITIES):
            value, quality = exported[(meter, quantity, day.isoformat())]
            assert value == pytest.approx(split[index], abs=1e-4)
            assert quality in ("actual", "backfilled")
    # The lost freeze is exported estimated and flagged with its rule and anchors, halfway
    # between its neighbours (a day apart each side); billing's own VEE agrees day by day.
    before, after = LOST_DAY - timedelta(days=1), LOST_DAY + timedelta(days=1)
    lost = {r["quantity"]: r for r in freezes if (r["meter"], r["day"]) == (LOST, str(LOST_DAY))}
    assert set(lost) == set(QUANTITIES)
    for index, quantity in enumerate(QUANTITIES):
        row = lost[quantity]
        assert row["quality"] == "estimated", row
        assert row["rule"] == (
            f"linear_interpolation between {before}T00:00:00+08:00/{after}T00:00:00+08:00"
        )
        middle = (truth[(LOST, before)][index] + truth[(LOST, after)][index]) / 2
        assert float(row["value"]) == pytest.approx(middle, abs=1e-4)
    assert all(r["rule"] == "" for r in freezes if r["quality"] != "estimated")
    assert [r for r in freezes if r["quality"] == "estimated"] == list(lost.values())
    # Each freeze is named by the meter whose register it is: the new one after the exchange.
    named = {r["day"]: r["meter"] for r in freezes if r["usage_point"] == REPLACED}
    assert named == {d.isoformat(): REPLACED if d <= EXCHANGE_DAY else NEW_METER for d in ALL_DAYS}
    daily = {(r["day"], r["quantity"]): r for r in billed_daily["consumption"]}
    for day in (before, LOST_DAY):
        row = daily[(day.isoformat(), TOTAL)]
        assert (row["quality"], row["rules"]) == ("estimated", ["linear_interpolation"]), row
        closing = exported[(LOST, TOTAL, (day + timedelta(days=1)).isoformat())][0]
        opening = exported[(LOST, TOTAL, day.isoformat())][0]
        assert row["value"] == pytest.approx(closing - opening, abs=1e-4)

    # Line loss per transformer and day, every day of June: supplied is the model's transformer
    # register across the day, customers its meters' days, so the loss is the model's (none:
    # no cable losses), but on the two days the lost freeze's estimate moves energy between.
    estimate_days = {LOST_DAY - timedelta(days=1), LOST_DAY}
    for day, figure in losses.items():
        supplied = supply_registers[day + timedelta(days=1)] - supply_registers[day]
        used = sum(day_used(truth, final, m, day) for m in customers)
        assert (figure["expected"], figure["included"]) == (len(customers), len(customers))
        assert (figure["supplied"]["meter"], figure["supplied"]["source"]) == (
            LV_METER,
            "daily_freeze",
        )
        assert figure["supplied"]["kwh"] == pytest.approx(supplied, abs=SUPPLY_STEP), day
        assert figure["customers_kwh"] == pytest.approx(used, abs=1e-3), (day, figure)
        assert figure["loss_kwh"] == pytest.approx(supplied - used, abs=SUPPLY_STEP + 1e-3)
        if day in estimate_days:
            assert figure["quality"] == "includes_estimates", figure
            assert figure["estimated"] == [LOST]
        else:
            assert (figure["quality"], figure["anomaly"]) == ("measured", None), figure
            assert supplied - used == pytest.approx(0.0, abs=0.02)  # the model's truth: none


def day_used(
    truth: dict[tuple[str, date], tuple[float, ...]],
    final: dict[str, float],
    meter: str,
    day: date,
) -> float:
    """The model's energy of ``meter`` on ``day`` (D + 1's freeze minus D's), bridged across
    the exchange; the two days around the lost freeze share their two days' energy."""
    after = day + timedelta(days=1)
    if meter == LOST and LOST_DAY in (day, after):
        first, last = LOST_DAY - timedelta(days=1), LOST_DAY + timedelta(days=1)
        return (truth[(meter, last)][0] - truth[(meter, first)][0]) / 2
    if meter == REPLACED and day == EXCHANGE_DAY:
        return final[TOTAL] - truth[(meter, day)][0] + truth[(meter, after)][0]
    return truth[(meter, after)][0] - truth[(meter, day)][0]
