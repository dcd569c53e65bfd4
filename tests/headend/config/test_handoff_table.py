"""``[handoff]``: a folder and/or a webhook, a local HH:MM, the webhook's credential from the
environment; every mistake named by its key."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import parse_fleet_config
from headend.config.handoff import webhook_authorization
from tests.support.concentrator_fleet import concentrator_fleet


def with_handoff(table: dict[str, Any], **more: Any) -> dict[str, Any]:
    document = concentrator_fleet()
    document["handoff"] = table
    document.update(more)
    return document


def test_the_defaults_and_a_full_table() -> None:
    config = parse_fleet_config(with_handoff({"folder": "out"}), "f.toml").handoff
    assert config is not None
    assert (config.at, config.folder, config.webhook) == (time(12, 0), Path("out"), None)
    full = {
        "webhook": "https://billing.example/in",
        "time": "06:30",
        "authorization_env": "HANDOFF_AUTH",
        "timeout": "10s",
    }
    config = parse_fleet_config(with_handoff(full), "f.toml").handoff
    assert config is not None
    assert (config.at, config.timeout, config.folder) == (time(6, 30), 10.0, None)
    assert webhook_authorization(config, {"HANDOFF_AUTH": "Bearer x"}, "f.toml") == "Bearer x"


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({}, "handoff.folder", "a folder, a webhook, or both"),
        ({"folder": "out", "time": "24:00"}, "handoff.time", "not a local time"),
        ({"folder": "out", "time": "9:00"}, "handoff.time", "not a local time"),
        ({"webhook": "ftp://x/y"}, "handoff.webhook", "http"),
        ({"folder": "out", "authorization_env": "X"}, "handoff.authorization_env", "webhook"),
        ({"folder": "out", "every": "1h"}, "handoff.every", ""),
    ],
)
def test_a_wrong_table_names_its_key(table: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_fleet_config(with_handoff(table), "f.toml")
    assert caught.value.key == key
    assert words in caught.value.problem


def test_the_handoff_needs_the_embedded_store() -> None:
    influx = {"kind": "influxdb-v2", "url": "http://127.0.0.1:8086", "org": "o", "bucket": "b",
              "token_env": "T"}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_fleet_config(with_handoff({"folder": "out"}, storage=influx), "f.toml")
    assert caught.value.key == "handoff"


def test_an_unset_credential_is_named() -> None:
    table = {"webhook": "http://127.0.0.1:9/x", "authorization_env": "HANDOFF_AUTH"}
    config = parse_fleet_config(with_handoff(table), "f.toml").handoff
    assert config is not None
    with pytest.raises(ConfigError) as caught:
        webhook_authorization(config, {}, "f.toml")
    assert caught.value.key == "handoff.authorization_env"
    assert "HANDOFF_AUTH" in caught.value.problem
