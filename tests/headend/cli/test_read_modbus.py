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


# A DTSU666 whose firmware keeps its energy block at 0x101E (public manuals' address) while
# the map defaults to 0x401E: the meter answers 0x401E with exception 0x02.
MOVED = DTSU666.with_bases({"energy": 0x101E})
FULL_VALUES = {
    point.quantity: 100.0 + index
    for index, point in enumerate(DTSU666.points)
    if point.quantity not in ("ct_ratio", "pt_ratio")
}
ENERGY = ("energy_active_import_total", "energy_active_export_total")


def _moved_meter(port: int) -> ModbusMeterSimulator:
    return ModbusMeterSimulator({1: SimulatedMeter(MOVED, dict(FULL_VALUES), RATIOS)}, port=port)


def _truth(quantity: str) -> float:
    if quantity == "ct_ratio":
        return RATIOS.ct
    if quantity == "pt_ratio":
        return RATIOS.pt
    point = MOVED.point(quantity)
    decoded = decode_point(point, encode_point(point, FULL_VALUES[quantity], RATIOS), RATIOS)
    assert decoded.value is not None
    return decoded.value


def test_a_refused_block_prints_the_other_values_and_exits_partial(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(lambda: _moved_meter(tcp_port)):
        code = main(_read(tcp_port, "--map", "dtsu666", "--ct", "40", "--json"))
    captured = capsys.readouterr()
    rows = {row["name"]: row for row in json.loads(captured.out)["values"]}
    assert code == ExitCode.PARTIAL
    assert list(rows) == list(DTSU666.quantities)
    readable = {name: row["value"] for name, row in rows.items() if name not in ENERGY}
    assert len(readable) == 18
    assert readable == {name: pytest.approx(_truth(name), rel=1e-6) for name in readable}
    for name in ENERGY:
        assert rows[name]["value"] is None
        assert rows[name]["problem"] == "error_response"
    assert "holding 0x401E..0x4029" in captured.err
    assert "illegal data address" in captured.err
    assert "1 of 5 request(s) failed, 18 of 20 value(s) read" in captured.err


def test_energy_base_reads_the_moved_block(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(lambda: _moved_meter(tcp_port)):
        code = main(
            _read(tcp_port, "--map", "dtsu666", "--ct", "40", "--energy-base", "0x101E", "--json")
        )
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["values"]}
    assert code == ExitCode.OK
    for name in ENERGY:
        assert rows[name]["value"] == pytest.approx(_truth(name), rel=1e-6)
        assert rows[name]["source"] == f"holding 0x{MOVED.point(name).address:04X}"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--map", "sdm630", "--energy-base", "0x101E"], "no movable energy block"),
        (["--map", "dtsu666", "--energy-base", "0x1x"], "0x1x"),
        (["--map", "dtsu666", "--energy-base", "0x10000"], "0x10000"),
        (["--map", "dtsu666", "--energy-base", "0xFFFF"], "0xFFFF"),
    ],
)
def test_bad_energy_base_exits_2_naming_it(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["read", "modbus", "tcp://127.0.0.1:1", *args])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert named in err
