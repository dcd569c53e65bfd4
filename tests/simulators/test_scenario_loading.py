"""Scenario files: bundled ones load; broken ones fail naming the file and the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from simulators.scenario import (
    SCENARIO_DIR,
    LoadKind,
    LoadSpec,
    MeterModel,
    ScenarioError,
    TransformerSpec,
    load_scenario,
)
from simulators.scenario_file import ScenarioLoadTable, ScenarioTransformerTable

SMOKE_TEXT = (SCENARIO_DIR / "smoke.toml").read_text()


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
def test_bundled_scenarios_load(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.meters
    assert len({m.address for m in scenario.meters}) == len(scenario.meters)
    assert all(len(m.address) == 12 and m.address.isdigit() for m in scenario.meters)


def test_meters_are_placed_and_dealt_over_phases() -> None:
    scenario = load_scenario("retrofit-before")
    households = [m for m in scenario.meters if m.kind is LoadKind.HOUSEHOLD]
    assert len(households) == 252
    assert {m.building for m in households} == {"B1", "B2", "B3", "B4", "B5"}
    counts = {p: sum(m.phase == p for m in households) for p in "ABC"}
    assert max(counts.values()) - min(counts.values()) <= 3
    publics = [m for m in scenario.meters if m.kind is LoadKind.PUBLIC]
    assert all(m.model is MeterModel.THREE_PHASE and m.phase is None for m in publics)
    b3 = [m for m in households if m.building == "B3"]
    assert b3[-1].distance_m > b3[0].distance_m
    assert {b.baud for b in scenario.buses} == {2400}
    assert len(scenario.meters_on_bus("bus-B1")) == 50 + 5 + 1


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SMOKE_TEXT, old
    path = tmp_path / "broken.toml"
    path.write_text(SMOKE_TEXT.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ('name = "smoke"\n', "", r"scenario\.name: is required"),
        (
            "rated_kva = 100",
            'rated_kva = "big"',
            r"transformers\[0\]\.rated_kva: expected a number",
        ),
        ("rated_kva = 100", "rated_kva = -5", r"transformers\[0\]\.rated_kva"),
        (
            'feeder = "F1"\ndistance_m = 150',
            'feeder = "F9"\ndistance_m = 150',
            r"buildings\[1\]\.feeder: unknown feeder 'F9'",
        ),
        (
            'address_base = "000000000001"',
            'address_base = "12345"',
            r"buildings\[0\]\.address_base: expected 12 decimal digits",
        ),
        (
            "households = 3\nev_piles",
            "households = 3\nhousehold = 3\nev_piles",
            r"buildings\[0\]\.household: unknown key",
        ),
        ("ambient_c = 30", "ambient_c = 30\nfoo = 1", r"scenario\.foo: unknown key"),
        (
            "start = 2026-07-15T00:00:00+08:00",
            "start = 2026-07-15T00:00:00",
            r"scenario\.start: expected a date-time with UTC offset",
        ),
        ("0.45, 0.38,", "0.45,", r"load\.household_profile_kw: expected a list"),
        (
            'parity = "E" }\n\n[[buildings]]',
            'parity = "X" }\n\n[[buildings]]',
            r"buildings\[0\]\.bus\.parity",
        ),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, old: str, new: str, where: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ScenarioError, match=where) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("fault", "where"),
    [
        ('kind = "melted"\nmeter = "S1-H001"', r"faults\[0\]\.kind: unknown value 'melted'"),
        ('kind = "no_reply"', r"faults\[0\]: needs exactly one of"),
        ('kind = "no_reply"\nmeter = "X-1"', r"faults\[0\]\.meter: unknown meter 'X-1'"),
        ('kind = "slow_reply"\nbus = "bus-S1"', r"faults\[0\]: slow_reply: needs 'delay_ms'"),
        (
            'kind = "no_reply"\nmeter = "S1-H001"\nstart = 2026-07-15T02:00:00+08:00\n'
            "end = 2026-07-15T01:00:00+08:00",
            r"faults\[0\]: no_reply: end .* is not after",
        ),
        (
            'kind = "missing_frozen"\nmeter = "S1-H001"\ndays = ["yesterday"]',
            r"faults\[0\]\.days\[0\]: expected a date \(YYYY-MM-DD\)",
        ),
        ('kind = "no_reply"\nmeter = "S1-H001"\ndelay = 5', r"faults\[0\]\.delay: unknown key"),
    ],
)
def test_fault_errors_name_file_and_key(tmp_path: Path, fault: str, where: str) -> None:
    path = tmp_path / "faulty.toml"
    path.write_text(f"{SMOKE_TEXT}\n[[faults]]\n{fault}\n")
    with pytest.raises(ScenarioError, match=where) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname = 1")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        load_scenario(bad)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = _broken(tmp_path, 'id = "S2"', 'id = "S1"')
    with pytest.raises(ScenarioError, match="duplicate building id 'S1'"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        # unknown key
        ("riser_m = 15", "riser_m = 15\nriser = 15", "buildings[0].riser: unknown key"),
        ('parity = "E" }', 'parity = "E", speed = 9600 }', "buildings[0].bus.speed: unknown key"),
        # wrong type
        ("households = 3", 'households = "3"', "buildings[0].households: expected an integer"),
        ("households = 3", "households = 3.0", "buildings[0].households: expected an integer"),
        ("ambient_c = 30", "ambient_c = true", "scenario.ambient_c: expected a number, got True"),
        ("baud = 2400", 'baud = "fast"', "buildings[0].bus.baud: expected an integer"),
        # out of range
        ("r_ohm_per_km = 0.32", "r_ohm_per_km = -0.32", "feeders[0].r_ohm_per_km: must be >= 0.0"),
        ("baud = 2400", "baud = 110", "buildings[0].bus.baud: must be >= 300, got 110"),
        ("0.45, 0.38,", "-0.45, 0.38,", "load.household_profile_kw[0]: must be >= 0.0"),
        ("0.45, 0.38,", "0.45,", "load.household_profile_kw: expected a list of 24 hourly"),
    ],
)
def test_each_error_names_file_key_path_and_problem(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: {problem}")


@pytest.mark.parametrize(
    ("table", "spec"), [(ScenarioLoadTable, LoadSpec), (ScenarioTransformerTable, TransformerSpec)]
)
def test_the_schema_defaults_are_the_specs(table: type[BaseModel], spec: type[Any]) -> None:
    """A key left out of the file means what the spec's own default says."""
    for field in dataclasses.fields(spec):
        if field.default is not dataclasses.MISSING:
            assert table.model_fields[field.name].default == field.default, field.name


def test_a_variant_states_only_what_differs_from_its_base() -> None:
    """retrofit-concentrator is retrofit-after read through concentrators."""
    variant = load_scenario("retrofit-concentrator")
    base = load_scenario("retrofit-after")
    assert variant.name == "retrofit-concentrator"
    assert variant.meters == base.meters
    assert variant.transformers == base.transformers
    assert variant.start == base.start
    assert base.concentrators is None
    assert variant.concentrators is not None
    assert (variant.concentrators.heartbeat_s, variant.concentrators.keeps_days) == (60.0, 31)


def test_a_base_that_is_missing_or_a_cycle_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[scenario]\nbase = "b"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('[scenario]\nbase = "a"\nname = "b"\n')
    with pytest.raises(ScenarioError, match=r"scenario\.base: 'a' is based on this file again"):
        load_scenario(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('[scenario]\nbase = "nowhere"\nname = "c"\n')
    with pytest.raises(ScenarioError, match=r"nowhere\.toml: cannot read"):
        load_scenario(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text("[scenario]\nbase = 3\n")
    with pytest.raises(ScenarioError, match=r"scenario\.base: expected a scenario name"):
        load_scenario(tmp_path / "d.toml")
