"""The dispatcher itself: help, listings, and the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from protocols.dlt645 import Standard, catalogue
from protocols.modbus import builtin_map_names
from simulators.scenario import SCENARIO_DIR


def test_console_script_help_runs() -> None:
    script = Path(sys.executable).parent / "headend"
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "read" in done.stdout


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.USAGE
    assert "COMMAND" in capsys.readouterr().err


def test_read_without_protocol_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read"]) == ExitCode.USAGE
    assert "dlt645 or modbus" in capsys.readouterr().err


def test_list_maps_names_every_shipped_map(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "--list-maps"]) == ExitCode.OK
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(builtin_map_names())


@pytest.mark.parametrize("standard", list(Standard))
def test_list_quantities_of_a_dlt645_edition(
    standard: Standard, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["read", "--list-quantities", f"dlt645-{standard.value}"]) == ExitCode.OK
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert listed == [item.name for item in catalogue(standard)]


def test_list_quantities_of_unknown_map_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["read", "--list-quantities", "nosuchmap"]) == ExitCode.USAGE
    assert "nosuchmap" in capsys.readouterr().err


HEAVY = (
    "numpy",
    "fastapi",
    "uvicorn",
    "aiomqtt",
    "influxdb_client",
    "pymodbus",
    "aiohttp",
    "http",
    "pydantic",
)
"""Libraries only the commands that use them may import: together they are most of the 2 s
``headend read`` took to start (``http``: urllib.request's client, for the healthcheck only;
``pydantic``: the fleet file's models, for the commands that load one)."""

PROBE = """
import sys
from headend.cli import main
code = main(sys.argv[1:])
print(code, ",".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["read", "dlt645", "--help"],
        ["read", "modbus", "--help"],
        ["read", "--list-quantities"],
        ["read", "--list-maps"],
        ["run", "--help"],
        ["simulate", "--help"],
        ["demo", "--help"],
        ["decode", "68 32 00 32 00 68 C9 00 02 34 12 00 02 71 00 00 01 00 85 16"],
        ["decode", "--json", "68 61 01 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 8A 16"],
    ],
    ids=" ".join,
)
def test_cli_start_imports_no_heavy_library(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, check=True
    )
    code, modules = done.stdout.splitlines()[-1].split()
    assert code == "0"
    assert sorted(set(HEAVY) & set(modules.split(","))) == []


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == ExitCode.OK
    assert capsys.readouterr().out == f"headend {version('headend')}\n"


def test_closed_stdout_is_not_a_traceback() -> None:
    """``headend read --list-quantities | head -1``: the reader is gone before we write."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: the first write fails, whatever the pipe size
    try:
        done = subprocess.run(
            [sys.executable, "-m", "headend.cli", "read", "--list-quantities"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == ExitCode.BROKEN_PIPE
    assert done.stderr == ""


@pytest.mark.parametrize(
    "argv", [["simulate", "nosuch"], ["demo", "--scenario", "nosuch"]], ids=" ".join
)
def test_unknown_scenario_lists_the_bundled_ones(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    bundled = sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))
    assert "smoke" in bundled
    assert "no bundled scenario 'nosuch'" in err
    assert f"choose one of {', '.join(bundled)} or give the path" in err
