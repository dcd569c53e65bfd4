"""``headend simulate``: prints its endpoints, serves them, stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from headend.cli import main
from headend.cli.simulate import READY
from headend.config.fleet import load_fleet_config
from simulators.scenario import Scenario
from tests.support.dlt645_reading import read_over_tcp

START_TIMEOUT_S = 30.0
"""Generous: the subprocess imports numpy and the whole head-end on a shared 2-core box."""
STOP_TIMEOUT_S = 10.0
REPO = Path(__file__).resolve().parents[3]


async def start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "headend.cli",
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )


async def lines_until_ready(process: asyncio.subprocess.Process) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(START_TIMEOUT_S):
        while not lines or lines[-1] != READY:
            raw = await process.stdout.readline()
            if not raw:
                assert process.stderr is not None
                error = (await process.stderr.read()).decode()
                raise AssertionError(f"simulate exited before ready: {lines} {error}")
            lines.append(raw.decode().rstrip("\n"))
    return lines


def bus_urls(lines: list[str]) -> dict[str, str]:
    """``bus ID URL PROTOCOL N meters`` lines -> {bus id: url}."""
    return {line.split()[1]: line.split()[2] for line in lines if line.startswith("bus ")}


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
async def test_simulate_serves_the_printed_endpoints_and_stops_cleanly(
    smoke: Scenario, tmp_path: Path, stop_with: signal.Signals
) -> None:
    config = tmp_path / "fleet.toml"
    process = await start("smoke", "--seed", "2", "--speed", "60", "--write-config", str(config))
    try:
        lines = await lines_until_ready(process)
        urls = bus_urls(lines)
        assert set(urls) == {bus.id for bus in smoke.buses}
        assert any(line.startswith("simulated time 2026-07-15T00:") for line in lines)
        meter = smoke.meters_on_bus(smoke.buses[-1].id)[-1]
        async with asyncio.timeout(STOP_TIMEOUT_S):
            readings = await read_over_tcp(urls[meter.bus], meter.address, ["voltage_a"])
        voltage = readings["voltage_a"].value
        assert voltage is not None
        assert 180.0 < voltage < 250.0
        fleet = load_fleet_config(config)
        assert {c.name: c.url for c in fleet.channels.values()} == urls
        assert fleet.meters[meter.id].address == meter.address
    finally:
        if process.returncode is None:
            process.send_signal(stop_with)
    async with asyncio.timeout(STOP_TIMEOUT_S):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "stopping at simulated" in out.decode()
    assert "Traceback" not in err.decode()


def test_unknown_scenario_exits_2_naming_the_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "no-such-scenario"]) == 2
    assert "no-such-scenario.toml" in capsys.readouterr().err


def test_broken_scenario_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[scenario]\nname = "x"\nstart = 2026-07-15T00:00:00+08:00\nbogus = 1\n')
    assert main(["simulate", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err
    assert "bogus" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--mqtt", "no-port"), ("--speed", "0"), ("--speed", "inf"), ("--port-base", "70000")],
)
def test_bad_options_exit_2(option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "smoke", option, value]) == 2
    assert option in capsys.readouterr().err
