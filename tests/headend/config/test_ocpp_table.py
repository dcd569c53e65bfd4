"""``[ocpp]``: chargers and curbs load; mistakes are named by key."""

from __future__ import annotations

from typing import Any

import pytest

from headend.config.errors import ConfigError
from headend.config.fleet import parse_fleet_config


def _document(**ocpp: Any) -> dict[str, Any]:
    return {
        "transformers": [{"name": "T1", "rated_kva": 400.0}],
        "ocpp": {
            "port": 0,
            "chargers": [{"id": "CP1", "transformer": "T1", "max_current": 32.0}],
            "curbs": [{"transformer": "T1", "load_meter": "T1-LV"}],
            **ocpp,
        },
    }


def test_chargers_and_curbs_load_with_their_limits() -> None:
    config = parse_fleet_config(_document(), "fleet.toml").ocpp
    assert config is not None
    assert config.chargers["CP1"].meter == "CP1"  # the pile meter defaults to the charger id
    curb = config.curbs["T1"]
    assert curb.limit_kw == pytest.approx(360.0)  # 90 % of 400 kVA
    assert curb.kw_per_amp == pytest.approx(0.69)  # 3 x 230 V


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (
            {"chargers": [{"id": "CP1", "transformer": "T9", "max_current": 32.0}]},
            "ocpp.chargers.CP1.transformer",
        ),
        (
            {"chargers": [{"id": "CP1", "transformer": "T1", "max_current": 32.0}] * 2},
            "ocpp.chargers.CP1.id",
        ),
        (
            {
                "chargers": [
                    {
                        "id": "CP1",
                        "transformer": "T1",
                        "max_current": 32.0,
                        "password_env": "NO_SUCH_OCPP_VAR",
                    }
                ]
            },
            "ocpp.chargers.CP1.password_env",
        ),
        ({"curbs": [{"transformer": "T1", "load_meter": "M", "safe_current": 3.0}]}, None),
    ],
)
def test_mistakes_name_their_key(change: dict[str, Any], key: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_fleet_config(_document(**change), "fleet.toml", environ={})
    assert caught.value.key == (key or "ocpp.curbs.T1.safe_current")


def test_a_misspelt_key_is_named_with_its_table() -> None:
    with pytest.raises(ConfigError, match=r"ocpp\.chargers\[0\]\.max_current"):
        parse_fleet_config(
            _document(chargers=[{"id": "CP1", "transformer": "T1", "max_curent": 32.0}]),
            "fleet.toml",
        )
