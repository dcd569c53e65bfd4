"""The ``[security]`` table and the per-meter ``control`` key: the module a site names is built
(software with its key from the environment, or a vendor class by import path), and every way
it can be wrong is an error naming the key."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import parse_fleet_config
from headend.config.security import SecurityTable, build_security_module
from headend.drivers.dlt645.security_module import SecurityModule, SoftwareSecurityModule
from tests.support.vendor_security import VendorModule

KEY = "00112233445566778899aabbccddeeff"
BASE: dict[str, Any] = {
    "channels": [{"name": "bus-1", "url": "tcp://127.0.0.1:9001"}],
    "plans": {"p": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
    "meters": [{"address": "000000000001", "channel": "bus-1", "plan": "p"}],
}


def document(**extra: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), **extra}


def test_meters_take_secured_control_unless_told_otherwise() -> None:
    doc = document()
    doc["meters"].append(
        {"address": "000000000002", "channel": "bus-1", "plan": "p", "control": "plaintext"}
    )
    config = parse_fleet_config(doc, "fleet.toml")
    assert [m.control for m in config.meters.values()] == ["secured", "plaintext"]
    assert config.security is None


def test_an_unknown_control_mode_names_the_meter_key() -> None:
    doc = document()
    doc["meters"][0]["control"] = "encrypted"
    with pytest.raises(ConfigError) as caught:
        parse_fleet_config(doc, "fleet.toml")
    assert caught.value.key.startswith("meters[0].control")
    assert "secured" in caught.value.problem


def test_the_software_module_reads_its_key_from_the_environment() -> None:
    config = parse_fleet_config(
        document(security={"key_env": "SITE_ESAM_KEY", "key_version": 3}), "fleet.toml"
    )
    assert config.security is not None
    module = build_security_module(config.security, {"SITE_ESAM_KEY": KEY}, "fleet.toml")
    assert isinstance(module, SoftwareSecurityModule)
    assert module.key_version == 3
    assert KEY not in repr(module)


@pytest.mark.parametrize(
    ("table", "environ", "key", "problem"),
    [
        ({}, {}, "security.key_env", "needs key_env"),
        ({"key_env": "K"}, {}, "security.key_env", "K must hold the master key"),
        ({"key_env": "K"}, {"K": "abcd"}, "security.key_env", "32 hex digits"),
        ({"module": "no.such.module:X"}, {}, "security.module", "ModuleNotFoundError"),
        ({"module": "vendor"}, {}, "security.module", "'package.module:Class'"),
        (
            {"module": "tests.support.vendor_security:NotAModule"},
            {},
            "security.module",
            "lacks key_version, authenticate or seal",
        ),
        (
            {"module": "tests.support.vendor_security:VendorModule"},
            {},
            "security.module",
            "TypeError",  # its required options are missing
        ),
    ],
)
def test_a_module_that_cannot_work_stops_the_start_naming_the_key(
    table: dict[str, Any], environ: dict[str, str], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_security_module(SecurityTable(**table), environ, "fleet.toml")
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_a_vendor_module_is_built_by_import_path_with_its_options() -> None:
    table = SecurityTable(
        module="tests.support.vendor_security:VendorModule",
        key_version=2,
        options={"host": "hsm.example", "key_hex": KEY},
    )
    module = build_security_module(table, {}, "fleet.toml")
    assert isinstance(module, VendorModule)
    assert isinstance(module, SecurityModule)
    assert (module.host, module.key_version) == ("hsm.example", 2)
