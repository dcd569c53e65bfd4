"""``headend read dlt645 --search`` and ``--scan`` against a simulated bus behind a TCP gateway
(the real command, the real simulator, collisions and a 1997 meter echoing the wildcard)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from protocols.dlt645 import Standard
from simulators.dlt645 import (
    EchoesWildcard,
    MeterBus,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TcpGateway,
)
from simulators.dlt645.faults import FaultScript
from tests.headend.cli.servers import serving
from transports import Parity, SerialSettings

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
ADDRESSES = ["320103000001", "320103000011", "320103000012", "440000000050", "000000000007"]


def gateway(addresses: list[str], standard: Standard, *, echo: bool = False) -> TcpGateway:
    faults = FaultScript([ScheduledFault(EchoesWildcard())] if echo else [])
    meters = [
        SimulatedMeter(
            SimulatedMeterConfig(a, StaticSource({}), standard=standard, reply_delay=0.005),
            faults,
        )
        for a in addresses
    ]
    line = SerialSettings("sim", baud=9600, parity=Parity.EVEN)
    return TcpGateway(MeterBus(meters, line, clock=lambda: NOW, faults=faults))


def values(out: str) -> list[str]:
    return [line.split()[2] for line in out.splitlines() if line.startswith("meter ")]


def test_search_prints_every_meter_on_the_bus_with_progress(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = gateway(ADDRESSES, Standard.DLT645_2007)
    with serving(lambda: bus):
        url = f"tcp://127.0.0.1:{bus.port}"
        code = main(["read", "dlt645", url, "--search", "--timeout", "150ms"])
    captured = capsys.readouterr()
    assert code == ExitCode.OK
    assert values(captured.out) == sorted(ADDRESSES)
    progress = [line for line in captured.err.splitlines() if line.startswith("search: ")]
    assert "AAAAAAAAAAAA: several meters" in progress[0]
    assert progress[-1].startswith(f"search: {len(progress)} asked, {len(ADDRESSES)} found, 0 to")


@pytest.mark.parametrize("standard", [Standard.DLT645_1997, Standard.DLT645_2007])
def test_a_scan_of_a_meter_echoing_the_wildcard_prints_its_own_address(
    standard: Standard, capsys: pytest.CaptureFixture[str]
) -> None:
    bus = gateway(["000000123456"], standard, echo=True)
    with serving(lambda: bus):
        url = f"tcp://127.0.0.1:{bus.port}"
        code = main(["read", "dlt645", url, "--standard", str(standard.value), "--scan"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "000000123456" in out
    assert "AAAAAAAAAAAA" not in out


def test_a_search_of_a_silent_bus_says_no_meter_answered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = gateway([], Standard.DLT645_2007)
    with serving(lambda: bus):
        url = f"tcp://127.0.0.1:{bus.port}"
        code = main(["read", "dlt645", url, "--search", "--timeout", "100ms"])
    assert code == ExitCode.NO_REPLY
    assert f"{url}: search: no meter answered AAAAAAAAAAAA" in capsys.readouterr().err
