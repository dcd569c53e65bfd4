"""The fleet config derived from a scenario loads in the head-end and names the same meters."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headend.config.archive_meters import merge_archive_meters
from headend.config.fleet import parse_fleet_config
from headend.config.storage import EmbeddedStorage
from simulators.fleet_export import (
    FleetExportError,
    archive_rows,
    dump_toml,
    fleet_config_for,
    timezone_name,
)
from simulators.runner import Endpoints, MqttEndpoint, terminal_topics
from simulators.scenario import MeterModel, Scenario, load_scenario
from simulators.terminal.config import TerminalConfig
from storage.archive.sheet import meters_of_rows


def endpoints_for(scenario: Scenario, *, broker: tuple[str, int] | None = None) -> Endpoints:
    buses = {bus.id: f"tcp://127.0.0.1:{20000 + i}" for i, bus in enumerate(scenario.buses)}
    mqtt = None
    if broker is not None:
        topics = terminal_topics(scenario, TerminalConfig())
        mqtt = MqttEndpoint(broker[0], broker[1], topics)
    return Endpoints(buses, mqtt)


@pytest.mark.parametrize("name", ["smoke", "retrofit-before", "retrofit-after"])
def test_exported_config_parses_and_places_every_meter(name: str) -> None:
    scenario = load_scenario(name)
    endpoints = endpoints_for(scenario)
    document = fleet_config_for(scenario, endpoints)
    text = dump_toml(document)
    assert tomllib.loads(text) == document
    fleet = parse_fleet_config(tomllib.loads(text), f"{name}.toml")

    assert {c.name: c.url for c in fleet.channels.values()} == dict(endpoints.buses)
    assert {t.name: t.rated_kva for t in fleet.transformers.values()} == {
        t.id: t.rated_kva for t in scenario.transformers
    }
    assert set(fleet.meters) == {m.id for m in scenario.meters}
    for spec in scenario.meters:
        meter = fleet.meters[spec.id]
        assert (meter.address, meter.channel, meter.transformer, meter.building) == (
            spec.address,
            spec.bus,
            spec.transformer,
            spec.building,
        )
        if spec.model is MeterModel.SINGLE_PHASE:
            assert meter.phase == spec.phase
        else:
            assert meter.phase == "ABC"
        plan = fleet.plans[meter.plan]
        assert plan.daily_frozen
        asked = {q for read in plan.reads for q in read.quantities}
        assert {"voltage_a", "current_a", "power_active_total"} <= asked
        assert "energy_active_import_total" in asked
    assert fleet.mqtt is None


def test_broker_and_storage_go_into_their_sections() -> None:
    scenario = load_scenario("smoke")
    endpoints = endpoints_for(scenario, broker=("127.0.0.1", 18830))
    document = fleet_config_for(
        scenario, endpoints, mqtt=("broker.example", 1883), storage={"kind": "embedded"}
    )
    fleet = parse_fleet_config(tomllib.loads(dump_toml(document)), "smoke.toml")
    assert fleet.mqtt is not None
    assert (fleet.mqtt.host, fleet.mqtt.port) == ("broker.example", 1883)
    assert endpoints.mqtt is not None
    assert list(fleet.mqtt.ingest_topics) == [t.telemetry for t in endpoints.mqtt.terminals]
    assert fleet.storage == EmbeddedStorage()
    assert {t.terminal for t in fleet.transformers.values()} == {
        t.device for t in endpoints.mqtt.terminals
    }


def test_a_bus_without_an_endpoint_is_named() -> None:
    scenario = load_scenario("smoke")
    partial = Endpoints({scenario.buses[0].id: "tcp://127.0.0.1:1"}, None)
    with pytest.raises(FleetExportError, match=scenario.buses[1].id):
        fleet_config_for(scenario, partial)


@pytest.mark.parametrize(
    ("hours", "zone"), [(8, "Asia/Shanghai"), (0, "UTC"), (3, "Etc/GMT-3"), (-5, "Etc/GMT+5")]
)
def test_timezone_names(hours: int, zone: str) -> None:
    assert timezone_name(timedelta(hours=hours)) == zone


def test_half_hour_offsets_have_no_zone() -> None:
    with pytest.raises(FleetExportError, match="5:30"):
        timezone_name(timedelta(hours=5, minutes=30))


def test_values_toml_cannot_hold_are_named() -> None:
    with pytest.raises(FleetExportError, match=r"site\.opened"):
        dump_toml({"site": {"opened": object()}})


def test_values_in_arrays_of_tables_are_named_by_index() -> None:
    with pytest.raises(FleetExportError, match=r"meters\[1\]\.opened: cannot write object"):
        dump_toml({"meters": [{"id": "m1"}, {"id": "m2", "opened": object()}]})


def test_date_times_without_offset_are_refused_and_with_offset_kept() -> None:
    with pytest.raises(FleetExportError, match=r"clock\.start: 2026-07-16 00:10:00 has no UTC"):
        dump_toml({"clock": {"start": datetime(2026, 7, 16, 0, 10)}})  # noqa: DTZ001
    start = datetime(2026, 7, 16, 0, 10, tzinfo=UTC)
    assert tomllib.loads(dump_toml({"clock": {"start": start}})) == {"clock": {"start": start}}


def test_keys_must_be_strings() -> None:
    with pytest.raises(FleetExportError, match=r"TOML key 3 in site: keys must be strings"):
        dump_toml({"site": {3: "x"}})


_keys = st.text(min_size=1, max_size=8)
_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
_flat_tables = st.dictionaries(
    _keys, st.one_of(_scalars, st.lists(_scalars, max_size=3)), max_size=4
)


@given(
    st.dictionaries(
        _keys,
        st.one_of(
            _scalars,
            _flat_tables,
            st.lists(_flat_tables, min_size=1, max_size=3),
            st.dictionaries(_keys, _flat_tables, min_size=1, max_size=2),
        ),
        max_size=5,
    )
)
def test_dump_toml_round_trips(document: dict[str, Any]) -> None:
    assert tomllib.loads(dump_toml(document)) == document


@pytest.mark.parametrize("name", ["smoke", "retrofit-after", "old-community-ev"])
def test_the_archive_form_gives_the_head_end_the_same_meters(name: str) -> None:
    """``--write-archive``: a fleet file without ``[[meters]]`` plus archive rows build the
    very meters the ``[[meters]]`` form does (checked as a billing office's file is)."""
    scenario = load_scenario(name)
    endpoints = endpoints_for(scenario)
    tables = parse_fleet_config(fleet_config_for(scenario, endpoints), f"{name}.toml")
    document = fleet_config_for(scenario, endpoints, archive=True)
    assert not [m for m in document["meters"] if "address" in m]  # only LV Modbus meters left
    short = parse_fleet_config(tomllib.loads(dump_toml(document)), f"{name}.toml")
    rows = meters_of_rows(archive_rows(scenario, endpoints), "archive.csv")
    merged = merge_archive_meters(short, rows, "archive.csv", scenario.start.date())
    assert merged.meters == tables.meters
    text = dump_toml(document)
    assert not [spec.id for spec in scenario.meters if f'"{spec.id}"' in text]
