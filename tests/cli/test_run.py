"""`headend run` refuses a wrong configuration with the file, key and problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.cli import main

CONFIG = """
[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:9"

[plans.flat]
[[plans.flat.reads]]
quantities = ["voltage_a"]
interval = "1m"

[[meters]]
address = "000000000001"
channel = "bus-1"
plan = "flat"

[storage]
kind = "embedded"
path = "{path}"

[api]
listen = "127.0.0.1:0"
[[api.tokens]]
name = "billing"
role = "reader"
token_env = "HEADEND_TEST_TOKEN_THAT_IS_NOT_SET"
"""


def test_missing_token_variable_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(CONFIG.format(path=tmp_path / "store.sqlite"))
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "api.tokens[0].token_env" in err
    assert "HEADEND_TEST_TOKEN_THAT_IS_NOT_SET" in err
    assert "Traceback" not in err


def test_unknown_quantity_in_a_plan_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    text = CONFIG.format(path=tmp_path / "store.sqlite").replace('"voltage_a"', '"voltage_q"')
    config.write_text(text.split("[api]")[0])
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "voltage_q" in err
    assert "000000000001" in err
