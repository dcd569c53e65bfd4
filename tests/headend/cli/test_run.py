"""`headend run` refuses a wrong configuration with the file, key and problem named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headend.cli import main
from storage.archive.records import ArchiveMeter
from storage.archive.store import ArchiveStore
from tests.support.fleet_text import one_meter_fleet

CONFIG = (
    one_meter_fleet()
    + """
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
)


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


GOOD = CONFIG.split("[api]")[0].replace(
    'address = "000000000001"', 'id = "flat-101"\naddress = "000000000001"'
)
"""A runnable fleet without tokens; each case below breaks one thing in it."""


_INFLUX = 'kind = "influxdb-v1"\nurl = "{}"\ndatabase = "meters"\noutbox = '
"""Turns the embedded ``[storage]`` of ``GOOD`` into an InfluxDB one at the given URL."""


def _refused(tmp_path: Path, content: bytes, *extra: str) -> str:
    """Run ``headend run`` on ``content``; it must exit 2 with one line naming the file."""
    config = tmp_path / "bad.toml"
    config.write_bytes(content)
    # A real process: a config wrongly accepted would start serving, so bound the wait.
    argv = ["run", "--config", str(config), "--data-dir", str(tmp_path)]
    argv += ["--listen", "127.0.0.1:0"]
    done = subprocess.run(
        [sys.executable, "-m", "headend.cli", *argv, *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    err = done.stderr
    assert done.returncode == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(config) in lines[0]
    return lines[0]


def _good(tmp_path: Path) -> str:
    return GOOD.format(path=tmp_path / "store.sqlite")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"", ["(file)", "empty"]),
        (b"\n  \n# only a comment\n", ["(file)", "empty"]),
        (b'[site]\nname = "caf\xe9"\n', ["(file)", "UTF-8", "line 2"]),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", ["(syntax)", "nested too deeply"]),
        (b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000 + b"\n", ["(syntax)", "nested"]),
    ],
    ids=["empty", "blank", "latin-1", "deep-arrays", "deep-tables"],
)
def test_unreadable_fleet_files_are_one_clear_line(
    tmp_path: Path, content: bytes, named: list[str]
) -> None:
    line = _refused(tmp_path, content)
    for word in named:
        assert word in line


def test_a_directory_instead_of_a_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    config.mkdir()  # what docker does when the bind-mount source is missing
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{config}: (file): cannot read" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("[[channels]]", '[site]\ntimezone = "Mars/Olympus"\n[[channels]]', "site.timezone"),
        ("[[channels]]", '[site]\ntimezone = "../../etc/passwd"\n[[channels]]', "site.timezone"),
        ("[[channels]]", f'[site]\ntimezone = "{"x" * 300}"\n[[channels]]', "site.timezone"),
        ("[storage]", '[mqtt]\nhost = "localhost"\nport = 70000\n[storage]', "mqtt.port"),
        ("[storage]", '[mqtt]\nhost = "localhost"\nport = 0\n[storage]', "mqtt.port"),
        ('kind = "embedded"\npath = ', _INFLUX.format("http://127.0.0.1:70000"), "storage.url"),
        ('kind = "embedded"\npath = ', _INFLUX.format("influx:8086"), "storage.url"),
        ('interval = "1m"', "interval = inf", "plans.flat.reads[0].interval"),
        ('address = "000000000001"', 'address = "12345"', "meters[0].address (meter flat-101)"),
        ('plan = "flat"\n\n', 'plan = "flat"\nplna = 1\n\n', "meters[0].plna (meter flat-101)"),
        ('id = "flat-101"\n', "", "meters[0].plan (meter 000000000001)"),
        ('quantities = ["voltage_a"]', 'quantities = ["voltage_q"]', "meters[0] (meter flat-101)"),
    ],
    ids=[
        "zone",
        "zone-path",
        "zone-long",
        "mqtt-port",
        "mqtt-port-0",
        "storage-port",
        "storage-scheme",
        "inf",
        "address",
        "typo",
        "no-id",
        "quantity",
    ],
)
def test_config_mistakes_name_file_key_and_meter(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    good = _good(tmp_path)
    assert old in good
    text = good.replace(old, new, 1)
    if named.endswith("(meter 000000000001)"):
        text = text.replace('plan = "flat"\n\n', 'plan = "nosuch"\n\n')
    line = _refused(tmp_path, text.encode())
    assert f": {named}: " in line


@pytest.mark.parametrize("listen", ["nohost", "127.0.0.1:70000", "127.0.0.1:http"])
def test_bad_listen_option_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], listen: str
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(_good(tmp_path))
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path), "--listen", listen])
    err = capsys.readouterr().err
    assert code == 2
    assert f"argument --listen: listen address {listen!r}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("[anomaly]\nheavy_load_rat = 0.8\n", "anomaly.heavy_load_rat"),
        ("[anomaly]\nheavy_load_rate = 'high'\n", "anomaly.heavy_load_rate"),
        ("[anomaly]\nheavy_load_rate = 1.5\n", "anomaly.heavy_load_rate"),
        ("[anomaly.single_phase]\nnominal_v = 220\n", "anomaly.single_phase"),
        (
            "[anomaly.single_phase]\nnominal_v = 220\nlower_pct = 10\nupper_pct = 7\nx = 1\n",
            "anomaly.single_phase.x",
        ),
        (
            "[anomaly.timings.overlaod]\nmin_duration_s = 1\nclear_after_s = 1\n",
            "anomaly.timings.overlaod",
        ),
        ("[anomaly]\nsilent_reasons = 'timeout'\n", "anomaly.silent_reasons"),
    ],
)
def test_bad_anomaly_table_names_file_and_key(tmp_path: Path, table: str, named: str) -> None:
    line = _refused(tmp_path, (_good(tmp_path) + table).encode())
    assert f": {named}: " in line


def test_an_unreadable_fleet_overlay_is_a_usage_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The API's saved fleet changes are a file the head-end starts from, as the TOML is."""
    config = tmp_path / "fleet.toml"
    config.write_text(GOOD.format(path=tmp_path / "store.sqlite"))
    (tmp_path / "fleet-overlay.json").write_text('{"version": 99, "meters": {}}')
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "fleet-overlay.json: version: expected 1" in err
    assert "Traceback" not in err


def _checked(tmp_path: Path, text: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "fleet.toml"
    config.write_text(text)
    data = tmp_path / "data"
    argv = ["run", "--check", "--config", str(config), "--data-dir", str(data)]
    done = subprocess.run(
        [sys.executable, "-m", "headend.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert not data.exists(), "--check opens no store"
    assert "Traceback" not in done.stderr
    return done


def test_check_accepts_a_good_file_and_opens_nothing(tmp_path: Path) -> None:
    text = CONFIG.format(path=tmp_path / "data" / "store.sqlite")
    done = _checked(tmp_path, text, {"HEADEND_TEST_TOKEN_THAT_IS_NOT_SET": "a-long-enough-token"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok, 1 meters on 1 channels")


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('kind = "embedded"', 'kind = "influxdb"', "storage.kind: expected one of"),
        ('kind = "embedded"', 'kind = "embedded"\nbucket = "b"', "storage.bucket: unknown key"),
        ('kind = "embedded"\npath = ', _INFLUX.format("influx:8086"), "storage.url: expected"),
        ('listen = "127.0.0.1:0"', 'listen = "8080"', "api.listen: expected host:port"),
        ('role = "reader"', 'role = "root"', "api.tokens[0].role: expected one of"),
        ('role = "reader"', 'role = "reader"\nsecret = "x"', "api.tokens[0].secret: unknown key"),
    ],
)
def test_check_refuses_a_bad_storage_or_api_table_at_load(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    text = CONFIG.format(path=tmp_path / "data" / "store.sqlite")
    assert old in text
    done = _checked(tmp_path, text.replace(old, new, 1), {})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f"{tmp_path / 'fleet.toml'}: {named}" in line


def test_check_names_a_secret_the_environment_lacks(tmp_path: Path) -> None:
    done = _checked(tmp_path, CONFIG.format(path=tmp_path / "data" / "store.sqlite"), {})
    assert done.returncode == 2
    assert "api.tokens[0].token_env: environment variable HEADEND_TEST_TOKEN" in done.stderr


def test_check_names_a_webhook_url_the_environment_lacks(tmp_path: Path) -> None:
    text = CONFIG.format(path=tmp_path / "data" / "store.sqlite")
    text += '[notify]\n[[notify.webhooks]]\nname = "wecom"\nurl_env = "HEADEND_TEST_WECOM_URL"\n'
    done = _checked(tmp_path, text, {"HEADEND_TEST_TOKEN_THAT_IS_NOT_SET": "reader-secret-1"})
    assert done.returncode == 2
    assert (
        "notify.webhooks[0].url_env: environment variable HEADEND_TEST_WECOM_URL is not set"
        in done.stderr
    )


def test_check_warns_of_secured_meters_without_a_security_module(tmp_path: Path) -> None:
    text = CONFIG.format(path=tmp_path / "data" / "store.sqlite")
    done = _checked(tmp_path, text, {"HEADEND_TEST_TOKEN_THAT_IS_NOT_SET": "a-long-enough-token"})
    assert done.returncode == 0, done.stderr
    assert "1 meters take secured control" in done.stderr
    assert "no [security] module" in done.stderr
    plain = text.replace('plan = "flat"\n', 'plan = "flat"\ncontrol = "plaintext"\n', 1)
    done = _checked(tmp_path, plain, {"HEADEND_TEST_TOKEN_THAT_IS_NOT_SET": "a-long-enough-token"})
    assert done.returncode == 0, done.stderr
    assert "secured control" not in done.stderr


def test_check_builds_the_security_module_and_names_a_missing_key(tmp_path: Path) -> None:
    text = CONFIG.format(path=tmp_path / "data" / "store.sqlite") + (
        '\n[security]\nmodule = "software"\nkey_env = "HEADEND_TEST_ESAM_KEY_NOT_SET"\n'
    )
    token = {"HEADEND_TEST_TOKEN_THAT_IS_NOT_SET": "a-long-enough-token"}
    done = _checked(tmp_path, text, token)
    assert done.returncode == 2
    assert "security.key_env" in done.stderr
    assert "HEADEND_TEST_ESAM_KEY_NOT_SET" in done.stderr
    done = _checked(tmp_path, text, {**token, "HEADEND_TEST_ESAM_KEY_NOT_SET": "00" * 16})
    assert done.returncode == 0, done.stderr
    assert "secured control" not in done.stderr


def test_check_counts_the_archive_meters_and_names_a_missing_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(one_meter_fleet() + '\n[archive]\npath = "office.sqlite"\nplan = "flat"\n')
    argv = ["run", "--check", "--config", str(config), "--data-dir", str(tmp_path / "data")]
    assert main(argv) == 2
    assert f"{tmp_path / 'office.sqlite'}: (file): no archive here" in capsys.readouterr().err
    with ArchiveStore.open(tmp_path / "office.sqlite") as store:
        store.import_meters(
            [ArchiveMeter(f"h{n}", f"00000000010{n}", channel="bus-1") for n in range(3)]
        )
    assert main(argv) == 0
    assert capsys.readouterr().out.strip().endswith("ok, 4 meters on 1 channels")
