"""``headend read dlt645 --load-profile START COUNT`` against a simulated meter behind a TCP
gateway: every printed value equals the meter's source at that interval slot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from simulators.dlt645 import (
    MeterBus,
    RampingSource,
    SimulatedMeter,
    SimulatedMeterConfig,
    TcpGateway,
)
from tests.headend.cli.servers import serving
from transports import Parity, SerialSettings

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
LOCAL_NOW = (NOW + timedelta(hours=8)).replace(tzinfo=None)
ADDRESS = "320103000021"
SOURCE = RampingSource(
    NOW - timedelta(days=1), 500.0, 2.4, {"voltage_a": 229.5, "current_a": 10.25}
)


def gateway(**options: object) -> TcpGateway:
    config = SimulatedMeterConfig(ADDRESS, SOURCE, reply_delay=0.005, **options)  # type: ignore[arg-type]
    line = SerialSettings("sim", baud=9600, parity=Parity.EVEN)
    return TcpGateway(MeterBus([SimulatedMeter(config)], line, clock=lambda: NOW))


def read(bus: TcpGateway, *extra: str) -> int:
    with serving(lambda: bus):
        url = f"tcp://127.0.0.1:{bus.port}"
        return main(["read", "dlt645", url, "--address", ADDRESS, *extra])


def test_records_print_the_source_at_each_slot(capsys: pytest.CaptureFixture[str]) -> None:
    start = LOCAL_NOW - timedelta(hours=3)
    code = read(gateway(), "--load-profile", start.isoformat(), "6", "--json")
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    rows = {row["name"]: row for row in json.loads(out)["values"]}
    for i in range(6):
        slot = start + timedelta(minutes=15 * i)
        utc = (slot - timedelta(hours=8)).replace(tzinfo=UTC)
        when = slot.isoformat(timespec="minutes")
        energy = rows[f"{when} energy_active_import_total"]
        assert energy["value"] == pytest.approx(SOURCE.energy(utc), abs=0.005)
        assert energy["unit"] == "kWh"
        assert energy["source"] == "06000001"
        assert rows[f"{when} voltage_a"]["value"] == 229.5
        assert rows[f"{when} current_a"]["value"] == 10.25
        assert rows[f"{when} voltage_b"]["value"] is None  # not measured: 0xFF fill
    assert f"{(start + timedelta(minutes=90)).isoformat(timespec='minutes')} voltage_a" not in rows


def test_one_class_in_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    start = LOCAL_NOW - timedelta(minutes=30)
    code = read(gateway(), "--load-profile", start.isoformat(), "2", "--profile-class", "1")
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert f"{start.isoformat(timespec='minutes')} voltage_a" in out
    assert "energy_active_import_total" not in out


def test_a_meter_without_profile_is_a_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    code = read(gateway(load_profile_interval=None), "--load-profile", "2026-03-10T11:00", "1")
    assert code == ExitCode.METER_ERROR
    assert "06000001" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("start", "count", "problem"),
    [("yesterday", "4", "not a time"), ("2026-03-10T11:00", "0", "block count 1..99")],
)
def test_bad_options_are_usage_errors(
    start: str, count: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "read",
            "dlt645",
            "tcp://127.0.0.1:1",
            "--address",
            ADDRESS,
            "--load-profile",
            start,
            count,
        ]
    )
    assert code == ExitCode.USAGE
    assert problem in capsys.readouterr().err
