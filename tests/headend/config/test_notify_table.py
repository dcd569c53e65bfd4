"""``[notify]``: the webhooks load with their defaults, and mistakes are named by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import FleetConfig, load_fleet_config

FLEET = """
[site]
timezone = "Asia/Shanghai"

[notify]
min_severity = "critical"

[[notify.webhooks]]
name = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
format = "wecom"
"""


def _load(tmp_path: Path, text: str) -> FleetConfig:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return load_fleet_config(path)


def test_a_webhook_loads_with_the_defaults(tmp_path: Path) -> None:
    notify = _load(tmp_path, FLEET).notify
    assert notify.min_severity == "critical"
    (hook,) = notify.webhooks
    assert (hook.name, hook.format, hook.per_minute, hook.retries) == ("wecom", "wecom", 6.0, 3)


def test_without_the_table_nothing_is_notified(tmp_path: Path) -> None:
    notify = _load(tmp_path, FLEET.split("[notify]")[0]).notify
    assert (notify.webhooks, notify.min_severity) == ((), "major")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (FLEET.replace('format = "wecom"', 'format = "slack"'), "notify.webhooks[0].format"),
        (FLEET + 'url_env = "HOOK"\n', "notify.webhooks[0].url"),
        (FLEET.replace("https://", "ftp://"), "notify.webhooks[0].url"),
        (FLEET + "per_minute = 0\n", "notify.webhooks[0].per_minute"),
        (FLEET.replace('"critical"', '"urgent"'), "notify.min_severity"),
        (FLEET + "retry = 3\n", "notify.webhooks[0].retry"),
    ],
)
def test_a_bad_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, text)
    assert raised.value.key == key, str(raised.value)
    assert "key=k" not in str(raised.value)  # the robot's key is a secret
