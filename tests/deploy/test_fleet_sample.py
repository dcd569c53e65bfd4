"""deploy/headend/fleet.toml is a real, loadable configuration, not an illustration."""

from __future__ import annotations

import re
import tomllib

from headend.config.fleet import load_fleet_config, parse_fleet_config
from protocols.modbus.maps import builtin_map_names, builtin_register_map
from tests.deploy.paths import FLEET_SAMPLE
from tests.deploy.stored_schema import known_quantities


def test_sample_loads_with_the_fleet_loader() -> None:
    fleet = load_fleet_config(FLEET_SAMPLE)
    assert fleet.meters
    assert fleet.mqtt is not None


def test_sample_has_a_tcp_gateway_per_building() -> None:
    fleet = load_fleet_config(FLEET_SAMPLE)
    buildings = {meter.building for meter in fleet.meters.values() if meter.building}
    assert len(buildings) >= 2
    for building in buildings:
        channels = {m.channel for m in fleet.meters.values() if m.building == building}
        assert all(fleet.channels[name].url.startswith("tcp://") for name in channels)


def test_sample_transformers_are_400_and_630_kva() -> None:
    fleet = load_fleet_config(FLEET_SAMPLE)
    ratings = sorted(t.rated_kva for t in fleet.transformers.values())
    assert ratings == [400.0, 630.0]
    fed = {meter.transformer for meter in fleet.meters.values()}
    assert set(fleet.transformers) <= fed, "a transformer without meters"


def test_storage_section_names_the_influxdb_v2_keys() -> None:
    storage = load_fleet_config(FLEET_SAMPLE).storage
    assert storage.kind == "influxdb-v2"
    assert storage.model_fields_set == {"kind", "url", "org", "bucket", "token_env"}
    assert "token" not in storage.model_fields_set, "secrets come from the environment"


def test_planned_quantities_exist_for_the_meters_that_read_them() -> None:
    fleet = load_fleet_config(FLEET_SAMPLE)
    for meter in fleet.meters.values():
        planned = {q for read in fleet.plans[meter.plan].reads for q in read.quantities}
        if meter.register_map is not None:
            assert meter.register_map in builtin_map_names()
            available = set(builtin_register_map(meter.register_map).quantities)
        else:
            available = set(known_quantities())
        assert planned <= available, f"{meter.id}: {sorted(planned - available)}"


def test_commented_simulated_clock_keys_load_when_uncommented() -> None:
    """The sample shows the [clock] keys ``simulate --write-config`` writes, and they are valid."""
    text = FLEET_SAMPLE.read_text(encoding="utf-8")
    uncommented, count = re.subn(r"^# (start|speed|anchor) = ", r"\1 = ", text, flags=re.M)
    assert count == 3
    clock = parse_fleet_config(tomllib.loads(uncommented), str(FLEET_SAMPLE)).clock
    assert clock.start is not None
    assert clock.anchor is not None
    assert clock.speed > 1
    assert load_fleet_config(FLEET_SAMPLE).clock.start is None, "production runs on wall time"
