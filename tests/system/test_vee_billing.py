"""A concentrator community billed for June end to end: ``headend simulate --master`` on a
scenario where one meter's day freeze is lost and another meter is replaced (换表, register
restarting at 0), ``headend archive import`` of the archive, ``headend archive exchange`` of
the crew's reads, and ``headend run`` pulling the month. ``/api/billing/consumption`` must
equal the community model's freezes day by day and tariff by tariff, the lost day must be
estimated and flagged, the exchange day must be old-final - old-start + new-end - new-initial,
and the June determinants must be the freezes of the settlement day (1st) with their source
stated.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.community.model import Community
from simulators.concentrator.store import tariff_split
from simulators.scenario import load_scenario
from tests.support.ports import free_tcp_port
from tests.system.processes import REPO, cli, start_headend, start_simulation

SEED = 3
START = "2026-07-01T00:10"
"""The concentrator holds the records of May 31st .. June 30th: billing days June 1st ..
July 1st (a record of day D is the freeze at D + 1's 00:00)."""
LOST = "S1-H001"
LOST_DAY = date(2026, 6, 10)
"""Its freeze of 00:00 on this day is lost (``missing_frozen``): never collected."""
REPLACED = "S2-H001"
NEW_METER = "S2-H001-N"
EXCHANGED_AT = "2026-06-20T10:30:00+08:00"
EXCHANGE_DAY = date(2026, 6, 20)
QUANTITIES = ["energy_active_import_total"] + [f"energy_active_import_t{n}" for n in (1, 2, 3, 4)]
TOTAL = QUANTITIES[0]
JUNE = [date(2026, 6, 1) + timedelta(days=n) for n in range(30)]
ALL_DAYS = [*JUNE, date(2026, 7, 1)]
FAULTS = f"""
[[faults]]
kind = "missing_frozen"
meter = "{LOST}"
days = [{LOST_DAY.isoformat()}]

[[faults]]
kind = "meter_replaced"
meter = "{REPLACED}"
new_address = "000000000199"
start = {EXCHANGED_AT}
"""


def scenario_file(tmp_path: Path) -> Path:
    """The bundled smoke community, started on May 31st, with the two faults."""
    text = (REPO / "simulators" / "scenarios" / "smoke.toml").read_text()
    text = text.replace("start = 2026-07-15T00:00:00+08:00", "start = 2026-05-31T00:00:00+08:00")
    assert "2026-05-31" in text
    path = tmp_path / "june.toml"
    path.write_text(text + FAULTS)
    return path


def model_freezes(scenario: Path) -> dict[tuple[str, date], tuple[float, ...]]:
    """Total and tariffs 1..4 at each billing day's freeze, as the concentrator reports them."""
    loaded = load_scenario(str(scenario))
    community = Community.from_scenario(loaded, SEED)
    community.advance_to(datetime(2026, 7, 1, 0, 0, 1, tzinfo=loaded.utc_offset))
    freezes = {}
    for spec in loaded.meters:
        for day in ALL_DAYS:
            total = community.daily_frozen(spec.id, day)
            if total is not None:
                freezes[(spec.id, day)] = tariff_split(total)
    return freezes


def old_meter_final(scenario: Path) -> float:
    """What the replaced meter showed when it came out (read by the crew to 2 decimals)."""
    loaded = load_scenario(str(scenario))
    community = Community.from_scenario(loaded, SEED)
    community.advance_to(datetime.fromisoformat(EXCHANGED_AT) - timedelta(microseconds=1))
    return round(community.meter_values(REPLACED).energy_active_import_total, 2)


def write_archive_csv(path: Path, meters: list[Any]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "address", "terminal", "pn", "kind", "transformer"])
        for meter in meters:
            writer.writerow(
                [meter.id, meter.address, meter.terminal, meter.pn, "household", meter.transformer]
            )


def test_a_june_is_billed_with_a_lost_day_estimated_and_an_exchange_bridged(
    tmp_path: Path,
) -> None:
    scenario = scenario_file(tmp_path)
    master = free_tcp_port()
    (tmp_path / "simulate").mkdir()
    simulation = start_simulation(
        str(scenario),
        tmp_path / "simulate",
        seed=SEED,
        extra=["--start", START, "--master", f"127.0.0.1:{master}"],
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

    # June's determinants: the freezes of the 1st of June and of July, source stated.
    found = {(d["meter"], d["quantity"]): d for d in determinants["determinants"]}
    for meter in meters:
        for index, quantity in enumerate(QUANTITIES):
            determinant = found[(meter, quantity)]
            assert determinant["source"] == "daily_freeze_of_settlement_day"
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


def wait_for_the_month(headend: Any, transformer: str | None, meters: list[str]) -> None:
    """Until every meter's total of every billing day (but the lost one) is stored: those
    stored before the stream opened are in billing already, the rest arrive on the stream."""
    waiting = {(m, d) for m in meters for d in ALL_DAYS} - {(LOST, LOST_DAY)}
    with headend.stream() as events:
        before = headend.get(
            "/api/billing",
            transformer=transformer,
            start=ALL_DAYS[0].isoformat(),
            end=ALL_DAYS[-1].isoformat(),
        )
        waiting -= {
            (r["meter"], date.fromisoformat(r["day"]))
            for r in before["daily"]
            if r["state"] == "collected"
        }
        local = datetime.fromisoformat(EXCHANGED_AT).tzinfo
        while waiting:
            reading = events.next_reading(
                lambda r: r["kind"] == "frozen" and r["quantity"] == TOTAL, timeout=180
            )
            day = datetime.fromisoformat(reading["timestamp"]).astimezone(local).date()
            waiting.discard((reading["meter"], day))
