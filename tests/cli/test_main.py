"""The dispatcher itself: help, listings, and the installed console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from headend.cli import main
from headend.cli_errors import ExitCode
from protocols.dlt645 import Standard, catalogue
from protocols.modbus import builtin_map_names


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
