"""deploy/headend/fleet.toml is a real, loadable configuration, not an illustration."""

from __future__ import annotations

from headend.fleet_config import load_fleet_config
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
    assert storage["kind"] == "influxdb-v2"
    assert set(storage) == {"kind", "url", "org", "bucket", "token_env"}
    assert "token" not in storage, "secrets come from the environment"


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
