"""What ``headend simulate --write-config`` writes: runnable by ``headend run`` as it is."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest

from headend.cli import main
from headend.cli.simulate import api_tokens, config_document, parse_start, token_variable
from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.service import api_settings
from simulators.fleet_export import dump_toml, read_intervals
from simulators.runner import Endpoints
from simulators.scenario import Scenario

ANCHOR = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def written(smoke: Scenario, speed: float, environ: dict[str, str]) -> tuple[str, dict[str, str]]:
    tokens = api_tokens(environ)
    endpoints = Endpoints(
        {bus.id: f"tcp://127.0.0.1:{20000 + i}" for i, bus in enumerate(smoke.buses)}, None
    )
    clock = WarpedClock(smoke.start, speed, ANCHOR)
    text = dump_toml(config_document(smoke, endpoints, clock, tokens))
    return text, {token.variable: token.secret for token in tokens}


def test_tokens_come_from_the_environment_or_are_generated(smoke: Scenario) -> None:
    given = "a-billing-secret-from-the-vault"
    text, secrets = written(smoke, 60.0, {token_variable("reader"): given})
    assert secrets[token_variable("reader")] == given
    assert len(secrets[token_variable("operator")]) >= 24
    assert given not in text
    config = parse_fleet_config(tomllib.loads(text), "written.toml")
    settings = api_settings(config, secrets)
    assert {(t.name, t.role.name) for t in settings.tokens} == {
        ("reader", "READER"),
        ("operator", "OPERATOR"),
        ("admin", "ADMIN"),
    }


def test_the_written_clock_is_the_simulators(smoke: Scenario) -> None:
    text, _ = written(smoke, 60.0, {})
    clock = parse_fleet_config(tomllib.loads(text), "written.toml").clock
    assert (clock.start, clock.speed, clock.anchor) == (smoke.start, 60.0, ANCHOR)
    assert clock.drift_threshold >= 60.0  # a real second of wire latency is a simulated minute


def test_read_intervals_leave_the_bus_time_at_high_speed(smoke: Scenario) -> None:
    assert read_intervals(smoke, 1.0) == ("1m", "15m")
    telemetry, billing = read_intervals(smoke, 60.0)
    assert int(telemetry.removesuffix("m")) > 1
    assert billing == "15m"
    config = parse_fleet_config(tomllib.loads(written(smoke, 60.0, {})[0]), "written.toml")
    intervals = {read.interval for plan in config.plans.values() for read in plan.reads}
    assert min(intervals) == int(telemetry.removesuffix("m")) * 60


def test_start_is_a_time_on_the_first_day_or_an_iso_date_time(smoke: Scenario) -> None:
    local = smoke.utc_offset
    assert parse_start("23:50", smoke) == datetime(2026, 7, 15, 23, 50, tzinfo=local)
    assert parse_start("2026-07-16T00:10", smoke) == datetime(2026, 7, 16, 0, 10, tzinfo=local)
    assert parse_start("2026-07-16T00:10+00:00", smoke) == datetime(2026, 7, 16, 0, 10, tzinfo=UTC)


def test_a_bad_start_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", "smoke", "--start", "25:99"]) == 2
    assert "--start" in capsys.readouterr().err
    assert main(["simulate", "smoke", "--start", "2026-07-01T00:00"]) == 2
    assert "before the scenario's start" in capsys.readouterr().err
