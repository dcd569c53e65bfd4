"""[master] and [[terminals]]: concentrators and the meters they read by pn; errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import load_fleet_config

FLEET = """
[site]
timezone = "Asia/Shanghai"

[[transformers]]
name = "T1"
rated_kva = 400

[master]
port = 9101
pull_delay = "10m"

[[terminals]]
name = "jzq-T1"
address = "4403-12"
heartbeat = "30s"
transformer = "T1"
keeps_days = 10

[[terminals.meters]]
id = "m1"
pn = 1
address = "000000000001"
household = "1-101"
control = "plaintext"
password = "02123456"

[[terminals.meters]]
id = "m2"
pn = 2
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return load_fleet_config(path)


def test_terminals_and_their_meters_load(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET)
    config = load_fleet_config(path)
    terminal = config.terminals["jzq-T1"]
    assert terminal.address == "4403-00012"
    assert terminal.heartbeat == 30.0
    assert terminal.keeps_days == 10
    assert [(m.id, m.pn, m.terminal, m.transformer) for m in terminal.meters] == [
        ("m1", 1, "jzq-T1", "T1"),
        ("m2", 2, "jzq-T1", "T1"),
    ]
    assert terminal.meters[0].tags() == {
        "terminal": "jzq-T1",
        "transformer": "T1",
        "household": "1-101",
    }
    assert (config.master.port, config.master.pull_delay) == (9101, 600.0)
    assert config.meters == {}
    # How forwarded relay orders go (AFN 10): secured unless the file says otherwise.
    assert [(m.control, m.password) for m in terminal.meters] == [
        ("plaintext", "02123456"),
        ("secured", "00000000"),
    ]


def test_a_fleet_without_terminals_has_none(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('[site]\nname = "x"\n')
    config = load_fleet_config(path)
    assert config.terminals == {}
    assert config.master.port == 9001


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ('address = "4403-12"', 'address = "4403"', "terminals[0].address", "region code"),
        ('address = "4403-12"', 'address = "4403-70000"', "terminals[0].address", "1..65535"),
        ("pn = 2", "pn = 1", "terminals[0].meters[1].pn", "already meter 'm1'"),
        ("pn = 2", "pn = 2041", "terminals[0].meters[1].pn", "2040"),
        (
            'transformer = "T1"\nkeeps',
            'transformer = "T9"\nkeeps',
            "terminals[0].transformer",
            "T9",
        ),
        ('heartbeat = "30s"', 'heartbeat = "soon"', "terminals[0].heartbeat", "duration"),
        (
            'address = "000000000001"',
            'address = "12"',
            "terminals[0].meters[0].address",
            "12-digit",
        ),
        ('id = "m2"', 'id = "m1"', "terminals[0].meters[1].id", "duplicate meter id"),
        ("port = 9101", "port = 99999", "master.port", "65535"),
        ("pn = 1\n", "pn = 1\nchannel = 'bus'\n", "terminals[0].meters[0].channel", "unknown key"),
        ("pn = 2\n", "pn = 2\ncontrol = 'open'\n", "terminals[0].meters[1].control", "secured"),
        ("pn = 2\n", "pn = 2\npassword = '12'\n", "terminals[0].meters[1].password", "8 hex"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, old: str, new: str, key: str, problem: str) -> None:
    assert old in FLEET
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, FLEET.replace(old, new, 1))
    assert info.value.key == key
    assert problem in info.value.problem


def test_two_terminals_with_one_address(tmp_path: Path) -> None:
    second = '\n[[terminals]]\nname = "jzq-T2"\naddress = "4403-00012"\n'
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, FLEET + second)
    assert info.value.key == "terminals[1].address"
    assert "already terminal 'jzq-T1'" in info.value.problem
