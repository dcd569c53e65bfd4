"""A concentrator community billed for June end to end: ``headend simulate --master`` on a
scenario where one meter's day freeze is lost and another meter is replaced (换表, register
restarting at 0), ``headend archive import`` of the archive, ``headend archive exchange`` of
the crew's reads, and ``headend run`` pulling the month. ``/api/billing/consumption`` must
equal the community model's freezes day by day and tariff by tariff, the lost day must be
estimated and flagged, the exchange day must be old-final - old-start + new-end - new-initial,
and the June determinants must be the concentrator's settlement freezes (F177) of the 1st
with their source stated.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from simulators.concentrator.store import tariff_split
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
    model_freezes,
    old_meter_final,
    scenario_file,
    wait_for_the_month,
    write_archive_csv,
)
from tests.system.processes import cli, start_headend, start_master_simulation


def test_a_june_is_billed_with_a_lost_day_estimated_and_an_exchange_bridged(
    tmp_path: Path,
) -> None:
    scenario = scenario_file(tmp_path)
    simulation = start_master_simulation(
        str(scenario), tmp_path, seed=SEED, extra=["--start", START]
    )
    data = tmp_path / "data"
    try:
        (terminal,) = simulation.config().terminals.values()
        meters = [m.id for m in terminal.meters]
        assert {LOST, REPLACED} <= set(meters)
        # The archive, imported as a billing office does, then the exchange recorded in it.
        sheet = tmp_path / "archive.csv"
        write_archive_csv(sheet, list(terminal.meters))
        done = cli(["archive", "import", str(sheet), "--data-dir", str(data)])
        assert done.returncode == 0, done.stderr
        final = old_meter_final(scenario)
        old_final = dict(zip(QUANTITIES, tariff_split(final), strict=True))
        exchange = ["archive", "exchange", REPLACED, NEW_METER, "--at", EXCHANGED_AT]
        for quantity, value in old_final.items():
            exchange += ["--old-final", f"{quantity}={value}", "--new-initial", f"{quantity}=0"]
        exchange += ["--new-address", "000000000199", "--reason", "display fault"]
        done = cli([*exchange, "--data-dir", str(data)])
        assert done.returncode == 0, done.stderr
        truth = model_freezes(scenario)
        assert (LOST, LOST_DAY) not in truth  # the model lost it too: nobody can read it
        headend = start_headend(simulation, data, port=free_tcp_port())
        try:
            wait_for_the_month(headend, terminal.transformer, meters)
            period = {"start": JUNE[0].isoformat(), "end": JUNE[-1].isoformat()}
            billed = headend.get(
                "/api/billing/consumption", transformer=terminal.transformer, **period
            )
            asked_new = headend.get("/api/billing/consumption", meter=NEW_METER, **period)
            determinants = headend.get(
                "/api/billing/determinants", transformer=terminal.transformer, month="2026-06"
            )
            findings = headend.get("/api/vee/findings", transformer=terminal.transformer, **period)
        finally:
            assert headend.stop() == 0, headend.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    rows = {(r["meter"], r["day"], r["quantity"]): r for r in billed["consumption"]}
    assert len(rows) == len(meters) * len(JUNE) * len(QUANTITIES)
    for meter in meters:
        for day in JUNE:
            for index, quantity in enumerate(QUANTITIES):
                row = rows[(meter, day.isoformat(), quantity)]
                if meter == LOST and day in (LOST_DAY - timedelta(days=1), LOST_DAY):
                    continue  # below
                if meter == REPLACED and day == EXCHANGE_DAY:
                    continue  # below
                closing, opening = truth[(meter, day + timedelta(days=1))], truth[(meter, day)]
                assert row["quality"] == "actual", row
                assert row["value"] == pytest.approx(closing[index] - opening[index], abs=1e-4), row

    # The lost freeze: both days it bounds are estimated, flagged with the rule, and add up
    # to what the meter measured over the two days.
    before, after = LOST_DAY - timedelta(days=1), LOST_DAY + timedelta(days=1)
    for index, quantity in enumerate(QUANTITIES):
        pair = [rows[(LOST, d.isoformat(), quantity)] for d in (before, LOST_DAY)]
        measured = truth[(LOST, after)][index] - truth[(LOST, before)][index]
        for row in pair:
            assert (row["quality"], row["rules"]) == ("estimated", ["linear_interpolation"]), row
            assert row["value"] == pytest.approx(measured / 2, abs=1e-4)

    # The exchange day: old-final - old-start + new-end - new-initial, never the raw drop.
    split_final = tariff_split(final)
    for index, quantity in enumerate(QUANTITIES):
        row = rows[(REPLACED, EXCHANGE_DAY.isoformat(), quantity)]
        expected = (
            split_final[index]
            - truth[(REPLACED, EXCHANGE_DAY)][index]
            + truth[(REPLACED, EXCHANGE_DAY + timedelta(days=1))][index]
        )
        assert row["quality"] == "actual", row
        assert row["value"] == pytest.approx(expected, abs=1e-4), row
        assert row["meters"] == [REPLACED, NEW_METER]
    assert truth[(REPLACED, EXCHANGE_DAY + timedelta(days=1))][0] < 50  # it did restart
    # Asked by the new meter's id, the billing point is the same.
    by_new = {(r["day"], r["quantity"]): r["value"] for r in asked_new["consumption"]}
    for (meter, day, quantity), row in rows.items():
        if meter == REPLACED:
            assert by_new[(day, quantity)] == row["value"]

    # June's determinants: the freezes of the 1st of June and of July, source stated: the
    # concentrator's month freezes (F177, pulled since the terminal pull stores them).
    found = {(d["meter"], d["quantity"]): d for d in determinants["determinants"]}
    for meter in meters:
        for index, quantity in enumerate(QUANTITIES):
            determinant = found[(meter, quantity)]
            assert determinant["source"] == "settlement_freeze", determinant
            assert determinant["quality"] == "actual", determinant
            start = truth[(meter, JUNE[0])][index]
            end = truth[(meter, ALL_DAYS[-1])][index]
            assert determinant["start"]["value"] == pytest.approx(start, abs=1e-4)
            assert determinant["end"]["value"] == pytest.approx(end, abs=1e-4)
            expected = end - start
            if meter == REPLACED:
                expected = split_final[index] - start + end - 0.0
                assert determinant["exchanges"] == 1
            assert determinant["consumption"] == pytest.approx(expected, abs=1e-3), determinant
    # No register went down: the exchange explains the replaced meter's drop.
    rules = {(f["rule"], f["meter"]) for f in findings["findings"]}
    assert ("register_decrease", REPLACED) not in rules
