"""``headend simulate --master``: concentrators per transformer and the config that reaches them."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from headend.cli import main
from headend.cli.simulate import api_tokens, config_document
from headend.clock import WarpedClock
from headend.config.archive_meters import merge_archive_meters
from headend.config.fleet import parse_fleet_config
from simulators.concentrator.community import ConcentratorPlan
from simulators.fleet_export import archive_rows, dump_toml
from simulators.runner import ScenarioRunner
from simulators.scenario import Scenario
from storage.archive.sheet import meters_of_rows


def test_the_written_config_has_the_master_and_each_concentrators_meters_by_pn(
    smoke: Scenario,
) -> None:
    clock = WarpedClock(smoke.start, 60.0, datetime(2026, 12, 2, tzinfo=UTC))
    runner = ScenarioRunner(
        smoke,
        seed=0,
        speed=60.0,
        concentrators=ConcentratorPlan(("127.0.0.1", 9301)),
        clock=clock.now,
    )
    # The gateways' ports are known once they listen; the concentrators' part is not.
    endpoints = replace(
        runner.endpoints(),
        buses={bus.id: f"tcp://127.0.0.1:{20000 + i}" for i, bus in enumerate(smoke.buses)},
    )
    text = dump_toml(config_document(smoke, endpoints, clock, api_tokens({})))
    config = parse_fleet_config(tomllib.loads(text), "written.toml")
    assert (config.master.host, config.master.port) == ("127.0.0.1", 9301)
    (terminal,) = config.terminals.values()
    assert terminal.transformer == "T1"
    assert terminal.address == "4403-00001"
    assert [(m.id, m.pn, m.address) for m in terminal.meters] == [
        (spec.id, pn, spec.address) for pn, spec in enumerate(smoke.meters, start=1)
    ]
    assert config.meters == {}  # read through the concentrator only


def test_late_day_without_master_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "smoke", "--late-day", "2026-07-16"]) == 2
    assert "--late-day: needs --master" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "value"), [("--power-off", "30"), ("--unreachable-pn", "2")])
def test_concentrator_event_faults_without_master_are_usage_errors(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    assert main(["simulate", "smoke", option, value]) == 2
    assert f"{option}: needs --master" in capsys.readouterr().err


def test_the_event_faults_reach_each_concentrator(smoke: Scenario) -> None:
    clock = WarpedClock(smoke.start, 60.0, datetime(2026, 12, 2, tzinfo=UTC))
    plan = ConcentratorPlan(("127.0.0.1", 9), power_off_minutes=30, unreachable=(2,))
    runner = ScenarioRunner(smoke, seed=0, speed=60.0, concentrators=plan, clock=clock.now)
    placed = runner.endpoints().concentrators
    assert placed
    for concentrator in (p.concentrator for p in placed):
        assert concentrator.store.unreachable == {2}
        (event,) = concentrator.faults.events
        assert event.erc == 14
        assert event.values["power_on"] - event.values["power_off"] == timedelta(minutes=30)


def test_the_archive_form_gives_each_concentrator_the_same_meters(smoke: Scenario) -> None:
    """``--write-archive`` with ``--master``: the terminals' meters come from archive rows
    (terminal and pn) and are the very meters of the ``[[terminals.meters]]`` form."""
    clock = WarpedClock(smoke.start, 60.0, datetime(2026, 12, 2, tzinfo=UTC))
    runner = ScenarioRunner(
        smoke,
        seed=0,
        speed=60.0,
        concentrators=ConcentratorPlan(("127.0.0.1", 9301)),
        clock=clock.now,
    )
    endpoints = replace(
        runner.endpoints(),
        buses={bus.id: f"tcp://127.0.0.1:{20000 + i}" for i, bus in enumerate(smoke.buses)},
    )
    tables = parse_fleet_config(
        tomllib.loads(dump_toml(config_document(smoke, endpoints, clock, api_tokens({})))),
        "written.toml",
    )
    short_text = dump_toml(config_document(smoke, endpoints, clock, api_tokens({}), archive=True))
    short = parse_fleet_config(tomllib.loads(short_text), "short.toml")
    assert [t.meters for t in short.terminals.values()] == [()]
    rows = meters_of_rows(archive_rows(smoke, endpoints), "archive.csv")
    assert {(m.terminal, m.pn, m.channel) for m in rows} == {
        ("jzq-T1", pn, None) for pn in range(1, len(smoke.meters) + 1)
    }
    merged = merge_archive_meters(short, rows, "archive.csv", smoke.start.date())
    (terminal,) = merged.terminals.values()
    assert [(m.building, m.household) for m in terminal.meters] == [
        (spec.building, spec.id if spec.kind.value == "household" else None)
        for spec in smoke.meters
    ]  # the archive places them too, which [[terminals.meters]] as written does not
    unplaced = tuple(replace(m, building=None, household=None) for m in terminal.meters)
    assert {"jzq-T1": replace(terminal, meters=unplaced)} == tables.terminals
    assert merged.meters == tables.meters == {}
