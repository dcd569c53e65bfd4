"""``[line_loss]``: the site's thresholds load, default when absent, and mistakes are named
by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import FleetConfig, load_fleet_config
from storage.area.line_loss import DEFAULT_LIMITS

FLEET = """
[site]
timezone = "Asia/Shanghai"

[line_loss]
threshold_percent = 8
negative_tolerance_percent = 1.0
"""


def _load(tmp_path: Path, text: str) -> FleetConfig:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return load_fleet_config(path)


def test_the_thresholds_load_and_the_rest_keep_their_defaults(tmp_path: Path) -> None:
    limits = _load(tmp_path, FLEET).line_loss
    assert (limits.threshold_percent, limits.negative_tolerance_percent) == (8.0, 1.0)
    assert limits.drop_share == DEFAULT_LIMITS.drop_share


def test_without_the_table_the_defaults_hold(tmp_path: Path) -> None:
    config = _load(tmp_path, FLEET.split("[line_loss]")[0])
    assert config.line_loss == DEFAULT_LIMITS
    assert config.line_loss.threshold_percent == 10.0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (FLEET.replace("threshold_percent = 8", "threshold_percent = 0"), "threshold_percent"),
        (FLEET.replace("threshold_percent = 8", "treshold_percent = 8"), "treshold_percent"),
        (FLEET + "drop_share = 1.5\n", "drop_share"),
    ],
)
def test_a_bad_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert f"line_loss.{key}" in str(caught.value)
