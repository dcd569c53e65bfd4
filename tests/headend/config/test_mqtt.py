"""The [mqtt] table: point names in both forms with units, limits, session, requesters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import load_fleet_config, parse_fleet_config
from headend.config.mqtt import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_MESSAGE_BYTES,
    MqttConfig,
    Requester,
)
from headend.config.terminal_points import TerminalPoint
from headend.mqtt.terminal_payload import parse_terminal_payload
from headend.units import UnitGate
from storage.records import ReadingKind

SECRET = "0123456789abcdef-ops"


def parse(mqtt: dict[str, Any], environ: dict[str, str] | None = None) -> MqttConfig:
    document = {"site": {"name": "Green Court #2"}, "mqtt": {"host": "broker", **mqtt}}
    config = parse_fleet_config(document, "fleet.toml", environ=environ or {}).mqtt
    assert config is not None
    return config


def test_defaults_convert_the_common_names_to_canonical_units() -> None:
    config = parse({})
    assert config.points["TotW"] == TerminalPoint(
        "power_active_total", "kW", ReadingKind.INSTANT, 0.001
    )
    assert config.points["SupWh"] == TerminalPoint(
        "energy_active_import_total", "kWh", ReadingKind.ENERGY, 0.001
    )
    assert config.points["TotVar"].factor == 0.001
    assert config.points["PhV_phsA"] == TerminalPoint("voltage_a", "V", ReadingKind.INSTANT, 1.0)
    assert config.points["OilTemp"].unit == "°C"
    assert config.client_id == "headend-Green-Court-2"  # stable, derived from the site
    assert config.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES
    assert config.max_items == DEFAULT_MAX_ITEMS
    assert config.requesters == ()


def test_names_take_the_old_string_form_and_the_table_form() -> None:
    config = parse(
        {
            "names": {
                "TotW": "power_active_total",  # old form: a common name keeps its unit (W)
                "P_kW": "power_active_total",  # old form, other name: taken as canonical
                "Psum": {"quantity": "power_active_total", "unit": "W"},
                "Pdeci": {"quantity": "power_active_total", "scale": 0.1, "unit": "W"},
                "E": {"quantity": "energy_active_import_total", "scale": 0.001},
                "Custom": "some_extra_value",  # unknown quantities stay accepted, unit-less
            }
        }
    )
    assert config.points["TotW"].factor == 0.001
    assert config.points["P_kW"].factor == 1.0
    assert config.points["Psum"].factor == 0.001
    assert config.points["Pdeci"].factor == pytest.approx(0.0001)
    assert (config.points["E"].unit, config.points["E"].factor) == ("kWh", 0.001)
    assert config.points["Custom"] == TerminalPoint(
        "some_extra_value", "", ReadingKind.INSTANT, 1.0
    )


@pytest.mark.parametrize(
    ("mqtt", "key", "problem"),
    [
        (
            {"names": {"TotW": {"quantity": "power_active_total", "unit": "furlong"}}},
            "mqtt.names.TotW",
            "furlong",
        ),
        (
            {"names": {"TotW": {"quantity": "power_active_total", "scale": 0}}},
            "mqtt.names.TotW",
            "scale",
        ),
        ({"names": {"X": {"quantity": "nonsense", "unit": "W"}}}, "mqtt.names.X", "nonsense"),
        (
            {"names": {"X": {"quantity": "voltage_a", "typo": 1}}},
            "mqtt.names.X.typo",
            "unknown key",
        ),
        ({"names": {"X": 3}}, "mqtt.names.X", "expected text"),
        ({"port": 70000}, "mqtt.port", "65535"),
        ({"max_items": 0}, "mqtt.max_items", ">= 1"),
        ({"session_expiry": "200000d"}, "mqtt.session_expiry", "MQTT 5 limit"),
        ({"request_rate": 0}, "mqtt.request_rate", "> 0"),
        (
            {"requesters": [{"name": "ops", "token_env": "NOPE"}]},
            "mqtt.requesters[0].token_env",
            "NOPE",
        ),
    ],
)
def test_bad_entries_name_the_key(mqtt: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(mqtt)
    assert key in str(info.value)
    assert problem in str(info.value)
    assert "fleet.toml" in str(info.value)


def test_requesters_and_limits() -> None:
    config = parse(
        {
            "client_id": "headend-east",
            "max_message_bytes": 4096,
            "max_items": 100,
            "session_expiry": "1d",
            "request_rate": 0.5,
            "request_burst": 3,
            "requesters": [{"name": "ops", "token_env": "OPS_TOKEN"}],
        },
        {"OPS_TOKEN": SECRET},
    )
    assert config.client_id == "headend-east"
    assert (config.max_message_bytes, config.max_items) == (4096, 100)
    assert config.session_expiry == 86400.0
    assert (config.request_rate, config.request_burst) == (0.5, 3)
    assert config.requesters == (Requester("ops", SECRET),)
    assert SECRET not in repr(config.requesters)


def test_short_tokens_are_refused() -> None:
    with pytest.raises(ConfigError, match="fewer than 16"):
        parse({"requesters": [{"name": "ops", "token_env": "T"}]}, {"T": "short"})


def test_a_fleet_file_with_both_name_forms_loads(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        """
[site]
name = "east"

[mqtt]
host = "127.0.0.1"
ingest_topics = ["terminal/+/telemetry"]

[mqtt.names]
TotW = "power_active_total"
Psum = {quantity = "power_active_total", unit = "W"}
""",
        encoding="utf-8",
    )
    config = load_fleet_config(fleet).mqtt
    assert config is not None
    assert config.client_id == "headend-east"
    assert config.points["TotW"].factor == 0.001
    assert config.points["Psum"].factor == 0.001
    assert config.points["PhV_phsA"].unit == "V"  # defaults are kept beside the overrides


def test_a_name_mapped_to_any_unit_family_quantity_passes_the_engines_unit_gate() -> None:
    """The config loader and the engine's unit gate use one unit table: a point the [mqtt]
    table accepts is stored, in its canonical unit, not refused as unit-less kW later."""
    config = parse(
        {
            "names": {
                "P_A": "power_active_a",  # old form, a quantity no terminal default covers
                "P_B": {"quantity": "power_active_b", "unit": "W"},
                "Ecomb": {"quantity": "energy_active_combined_total", "unit": "Wh"},
            }
        }
    )
    items = [{"name": n, "val": "1500"} for n in ("P_A", "P_B", "Ecomb")]
    message = {"timestamp": "2026-11-23T19:30:00+08:00", "body": [{"dev": "T", "body": items}]}
    parsed = parse_terminal_payload(
        "terminal/T/telemetry", json.dumps(message).encode(), config.points, {"T": "T1"}
    )
    gate = UnitGate()
    stored = {r.quantity: (r.value, r.unit, r.kind) for r in gate.conform(parsed.readings)}
    assert gate.refused_total == 0
    assert stored == {
        "power_active_a": (1500.0, "kW", ReadingKind.INSTANT),
        "power_active_b": (1.5, "kW", ReadingKind.INSTANT),
        "energy_active_combined_total": (1.5, "kWh", ReadingKind.ENERGY),
    }
