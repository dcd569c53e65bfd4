"""``headend read modbus`` end to end against the pymodbus-based meter simulator."""

from __future__ import annotations

import json

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from headend.cli.output import format_number
from protocols.modbus import Ratios, builtin_register_map, decode_point, encode_point
from simulators.modbus import ModbusMeterSimulator, SimulatedMeter
from tests.headend.cli.servers import serving

DTSU666 = builtin_register_map("chint_dtsu666")
RATIOS = Ratios(ct=40.0, pt=1.0)
VALUES = {"voltage_a": 229.7, "current_a": 212.5, "power_active_total": 48_811.0}


def _served(port: int, unit: int = 1, **meter: object) -> ModbusMeterSimulator:
    simulated = SimulatedMeter(DTSU666, dict(VALUES), RATIOS, **meter)  # type: ignore[arg-type]
    return ModbusMeterSimulator({unit: simulated}, port=port)


def _expected(quantity: str) -> str:
    """The value after one trip through the meter's registers, as the CLI formats it."""
    point = DTSU666.point(quantity)
    decoded = decode_point(point, encode_point(point, VALUES[quantity], RATIOS), RATIOS).value
    assert decoded is not None
    return format_number(decoded)


def _read(port: int, *extra: str) -> list[str]:
    return ["read", "modbus", f"tcp://127.0.0.1:{port}", "--timeout", "500ms", *extra]


def test_dtsu666_quantities_read_with_ratios(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = ["--quantity", "voltage_a", "--quantity", "current_a", "--ct", str(RATIOS.ct)]
    with serving(lambda: _served(tcp_port)):
        code = main(_read(tcp_port, "--unit", "1", "--map", "dtsu666", *wanted))
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert code == ExitCode.OK
    assert lines == [
        ["voltage_a", _expected("voltage_a"), DTSU666.point("voltage_a").unit],
        ["current_a", _expected("current_a"), DTSU666.point("current_a").unit],
    ]


def test_every_map_quantity_by_default(tcp_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(lambda: _served(tcp_port)):
        code = main(_read(tcp_port, "--map", "chint_dtsu666", "--json", "--ct", "40"))
    document = json.loads(capsys.readouterr().out)
    values = {row["name"]: row["value"] for row in document["values"]}
    assert code == ExitCode.OK
    assert list(values) == list(DTSU666.quantities)
    assert values["ct_ratio"] == pytest.approx(RATIOS.ct)
    assert values["power_active_total"] == pytest.approx(VALUES["power_active_total"], rel=1e-6)
    assert values["voltage_b"] is None  # not served: the meter says "not available"


def test_exception_response_exits_4(tcp_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(lambda: _served(tcp_port, exception_code=0x02)):
        code = main(_read(tcp_port, "--map", "dtsu666", "--quantity", "voltage_a"))
    err = capsys.readouterr().err
    assert code == ExitCode.METER_ERROR
    assert "illegal data address" in err
    assert f"127.0.0.1:{tcp_port}" in err


def test_refused_connection_exits_5(tcp_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_read(tcp_port, "--map", "dtsu666"))
    err = capsys.readouterr().err
    assert code == ExitCode.LINK_FAILED
    assert f"127.0.0.1:{tcp_port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--map", "nosuchmeter"], "nosuchmeter"),
        (["--map", "dtsu666", "--quantity", "voltage_x"], "voltage_x"),
        (["--map", "dtsu666", "--ct", "-4"], "-4"),
        (["--map", "dtsu666", "--unit", "300"], "300"),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["read", "modbus", "tcp://127.0.0.1:1", *args])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert named in err
