"""``energy_base`` in a fleet file: the DTSU666 energy block address, per meter."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import parse_fleet_config
from headend.config.meters import check_meters

FLEET = """
[[channels]]
name = "lv"
url = "rtu+tcp://127.0.0.1:8899"
protocol = "modbus"

[plans.lv]
reads = [{ quantities = ["energy_active_import_total"], interval = "15m" }]

[[meters]]
id = "T1-LV"
channel = "lv"
plan = "lv"
unit_id = 1
register_map = "{map}"
energy_base = {base}
"""


def _fleet(register_map: str, base: str) -> dict[str, Any]:
    return tomllib.loads(FLEET.replace("{map}", register_map).replace("{base}", base))


def test_energy_base_is_read_from_the_fleet_file() -> None:
    config = parse_fleet_config(_fleet("chint_dtsu666", "0x101E"), "fleet.toml")
    assert config.meters["T1-LV"].energy_base == 0x101E


@pytest.mark.parametrize(
    ("register_map", "base", "problem"),
    [
        ("eastron_sdm630", "0x101E", "map eastron_sdm630 has no movable energy block"),
        ("chint_dtsu666", "0xFFFF", "outside 0..65535"),
        ("chint_dtsu666", "70000", "must be <= 65535, got 70000"),
    ],
)
def test_a_wrong_energy_base_names_the_meter_and_the_key(
    register_map: str, base: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_meters(parse_fleet_config(_fleet(register_map, base), "fleet.toml"))
    message = str(caught.value)
    assert "meters[0]" in message
    assert "energy_base" in message
    assert "T1-LV" in message
    assert problem in message
