"""``[dial_in]`` and ``dialin://`` channels: what loads, and mistakes named by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import FleetConfig, load_fleet_config

FLEET = """
[site]
timezone = "Asia/Shanghai"

[dial_in]
port = 9102
idle_timeout = "2m"

[[channels]]
name = "bus-1"
url = "dialin://DTU-0001?heartbeat=HB-0001"

[[channels]]
name = "bus-2"
url = "dialin://%FE%FE860000000000002"
"""


def _load(tmp_path: Path, text: str) -> FleetConfig:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return load_fleet_config(path)


def test_dial_in_channels_and_the_listener_load(tmp_path: Path) -> None:
    config = _load(tmp_path, FLEET)
    assert (config.dial_in.host, config.dial_in.port) == ("0.0.0.0", 9102)
    assert config.dial_in.idle_timeout == 120.0
    assert config.dial_in.registration_timeout == 10.0
    assert config.channels["bus-2"].url.startswith("dialin://")


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        (
            FLEET.replace("%FE%FE860000000000002", "DTU-0001"),
            "channels.bus-2.url",
            "also channel 'bus-1'",
        ),
        (FLEET.replace("HB-0001", "DTU-0001-HB"), "channels[0].url", "must not start"),
        (FLEET.replace("?heartbeat=HB-0001", "%16"), "channels[0].url", "0x16"),
        (
            FLEET.replace('name = "bus-2"', 'name = "bus-2"\nprotocol = "modbus"'),
            "channels[1].url",
            "carry DL/T 645 buses, not modbus",
        ),
        (FLEET.replace("idle_timeout", "idle_timout"), "dial_in.idle_timout", ""),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, text)
    assert raised.value.key == key, raised.value
    assert problem in str(raised.value)
