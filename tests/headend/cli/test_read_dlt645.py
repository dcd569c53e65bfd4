"""``headend read dlt645`` end to end: main() in-process against a fake meter on loopback TCP."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, time

import pytest

from headend.bus.link import Direction, TrafficRecord
from headend.cli import main
from headend.cli.errors import ExitCode
from headend.cli.frames import reassemble
from headend.clock import WarpedClock
from protocols.dlt645 import (
    Address,
    ErrorWord,
    FrameDecoder,
    NotAvailable,
    ReadAddressRequest,
    ReadRequest,
    ReadResponse,
    Standard,
    Value,
    encode,
    encode_value,
    parse_response,
)
from simulators.runner import ScenarioRunner
from simulators.scenario import load_scenario
from tests.headend.cli.servers import FakeMeter, serving
from tests.support.ports import free_tcp_port

METER = Address.parse("123456789012")
ENERGY_DI = 0x00010000
VOLTAGE_BLOCK_DI = 0x0201FF00
CLOCK_TIME_DI = 0x04000102
VOLTAGES: dict[str, Value] = {
    "voltage_a": 220.1,
    "voltage_b": 231.4,
    "voltage_c": NotAvailable("not simulated"),
}
ENERGY = 12345.67
CLOCK_TIME = time(7, 8, 9)


def _meter(*, silent: bool = False, errors: Mapping[int, int] | None = None) -> FakeMeter:
    payloads = {
        ENERGY_DI: encode_value(ENERGY_DI, ENERGY),
        VOLTAGE_BLOCK_DI: encode_value(VOLTAGE_BLOCK_DI, VOLTAGES),
        CLOCK_TIME_DI: encode_value(CLOCK_TIME_DI, CLOCK_TIME),
    }
    return FakeMeter(METER, payloads, errors or {}, silent=silent)


def _read(port: int, *extra: str) -> list[str]:
    return ["read", "dlt645", f"tcp://127.0.0.1:{port}", "--timeout", "300ms", *extra]


def _value_lines(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


def test_plain_read_prints_value_with_unit(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(_meter().on(tcp_port)):
        code = main(_read(tcp_port, "--address", str(METER), "--di", f"{ENERGY_DI:08X}"))
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert _value_lines(out) == {"energy_active_import_total": [f"{ENERGY:.2f}", "kWh"]}


def test_block_read_prints_every_member_aligned(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(_meter().on(tcp_port)):
        code = main(_read(tcp_port, "--address", str(METER), "--quantity", "voltage"))
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    lines = _value_lines(out)
    assert lines["voltage_a"] == [f"{VOLTAGES['voltage_a']:.1f}", "V"]
    assert lines["voltage_b"] == [f"{VOLTAGES['voltage_b']:.1f}", "V"]
    assert lines["voltage_c"][0] == "n/a"
    assert "0xFF fill" in out
    value_ends = {line.index(line.split()[1]) + len(line.split()[1]) for line in out.splitlines()}
    assert len(value_ends) == 1, out  # values right-aligned in one column


def test_items_print_in_command_line_order_and_clock_as_iso(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--address", str(METER), "--di", "04000102", "--quantity", "energy_active_import_total"]
    with serving(_meter().on(tcp_port)):
        code = main(_read(tcp_port, *args))
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert code == ExitCode.OK
    assert names == ["time", "energy_active_import_total"]


def test_clock_value_is_iso(tcp_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(_meter().on(tcp_port)):
        code = main(_read(tcp_port, "--address", str(METER), "--quantity", "time"))
    assert code == ExitCode.OK
    assert _value_lines(capsys.readouterr().out)["time"] == [CLOCK_TIME.isoformat()]


def test_raw_prints_request_and_reply_frames_in_hex(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(_meter().on(tcp_port)):
        code = main(_read(tcp_port, "--address", str(METER), "--di", f"{ENERGY_DI:08X}", "--raw"))
    lines = capsys.readouterr().out.splitlines()
    sent = bytes.fromhex("".join(line[3:] for line in lines if line.startswith("tx ")))
    received = bytes.fromhex("".join(line[3:] for line in lines if line.startswith("rx ")))
    payload = encode_value(ENERGY_DI, ENERGY)
    assert code == ExitCode.OK
    assert sent == encode(ReadRequest(METER, ENERGY_DI).to_frame(), preamble=0)
    assert received == encode(ReadResponse(METER, ENERGY_DI, payload).to_frame(), preamble=0)


def test_json_output_carries_values_and_frames(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--address", str(METER), "--quantity", "voltage", "--json", "--raw"]
    with serving(_meter().on(tcp_port)):
        code = main(_read(tcp_port, *args))
    document = json.loads(capsys.readouterr().out)
    values = {row["name"]: row for row in document["values"]}
    assert code == ExitCode.OK
    assert document["meter"] == str(METER)
    assert values["voltage_a"]["value"] == pytest.approx(VOLTAGES["voltage_a"])
    assert values["voltage_a"]["unit"] == "V"
    assert values["voltage_c"]["value"] is None
    assert document["frames"][0]["direction"] == "tx"
    assert {frame["direction"] for frame in document["frames"]} == {"tx", "rx"}


def test_scan_prints_the_single_meters_address(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = _meter()
    with serving(meter.on(tcp_port)):
        code = main(_read(tcp_port, "--scan"))
    captured = capsys.readouterr()
    assert code == ExitCode.OK
    assert _value_lines(captured.out) == {"address": [str(METER)]}
    assert "only works with ONE meter" in captured.err
    assert meter.requests == [ReadAddressRequest().to_frame()]


def test_1997_read_uses_two_byte_identifiers(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    di = 0x9010
    payload = encode_value(di, ENERGY, Standard.DLT645_1997)
    with serving(FakeMeter(METER, {di: payload}).on(tcp_port)):
        code = main(_read(tcp_port, "--standard", "1997", "--address", str(METER), "--di", "9010"))
    assert code == ExitCode.OK
    assert _value_lines(capsys.readouterr().out) == {
        "energy_active_import_total": [f"{ENERGY:.2f}", "kWh"]
    }


def test_silent_meter_exits_3_naming_meter_and_di(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(_meter(silent=True).on(tcp_port)):
        code = main(_read(tcp_port, "--address", str(METER), "--di", f"{ENERGY_DI:08X}"))
    err = capsys.readouterr().err
    assert code == 3  # ExitCode.NO_REPLY, the documented contract
    assert "no reply" in err
    assert str(METER) in err
    assert f"{ENERGY_DI:08X}" in err
    assert f"127.0.0.1:{tcp_port}" in err
    assert "Traceback" not in err


def test_error_response_exits_4_with_error_word_flags(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    word = ErrorWord.UNAUTHORISED
    meter = _meter(errors={ENERGY_DI: int(word)})
    args = ["--address", str(METER), "--di", f"{ENERGY_DI:08X}", "--quantity", "voltage_a"]
    with serving(meter.on(tcp_port)):
        code = main(_read(tcp_port, *args))
    captured = capsys.readouterr()
    assert code == 4  # ExitCode.METER_ERROR, the documented contract
    assert f"{word.name}" in captured.err
    assert f"{ENERGY_DI:08X}" in captured.err
    assert "refused" in _value_lines(captured.out)["energy_active_import_total"]
    # the refusal does not stop the next identifier (here also refused: not in the meter)
    assert len(meter.requests) == 2


def test_one_refused_identifier_among_read_ones_exits_8_partial(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    meter = _meter(errors={VOLTAGE_BLOCK_DI: int(ErrorWord.NO_DATA)})
    args = ["--address", str(METER), "--quantity", "voltage", "--di", f"{ENERGY_DI:08X}"]
    with serving(meter.on(tcp_port)):
        code = main(_read(tcp_port, *args))
    captured = capsys.readouterr()
    assert code == ExitCode.PARTIAL
    lines = _value_lines(captured.out)
    assert lines["energy_active_import_total"] == [f"{ENERGY:.2f}", "kWh"]
    assert "refused" in lines["voltage"]
    assert f"{VOLTAGE_BLOCK_DI:08X}" in captured.err
    assert "partial read: 1 of 2 identifier(s) failed, 1 read" in captured.err


def test_refused_connection_exits_5_naming_url(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_tcp_port()  # nothing listens there
    code = main(_read(port, "--address", str(METER), "--di", f"{ENERGY_DI:08X}"))
    err = capsys.readouterr().err
    assert code == 5  # ExitCode.LINK_FAILED, the documented contract
    assert f"127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--address", "12345", "--di", "00010000"], "12345"),
        (["--address", "123456789012", "--di", "0001zz00"], "0001zz00"),
        (["--address", "123456789012", "--quantity", "voltage_x"], "voltage_x"),
        (["--address", "123456789012", "--di", "9010"], "9010"),
        (["--address", "123456789012", "--timeout", "soon", "--di", "00010000"], "soon"),
        (["--di", "00010000"], "--address"),
        (["--scan", "--address", "123456789012"], "--scan"),
    ],
)
def test_bad_arguments_exit_2_naming_the_value(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["read", "dlt645", "tcp://127.0.0.1:1", *args])
    err = capsys.readouterr().err
    assert code == 2  # ExitCode.USAGE, the documented contract
    assert named in err
    assert "Traceback" not in err


def test_bad_url_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["read", "dlt645", "ftp://meter", "--address", str(METER), "--di", "00010000"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "ftp://meter" in err


def test_1997_scan_reads_the_address_item_with_wildcard(
    tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    address_di = 0xC032
    payload = encode_value(address_di, int(str(METER)), Standard.DLT645_1997)
    meter = FakeMeter(METER, {address_di: payload})
    with serving(meter.on(tcp_port)):
        code = main(_read(tcp_port, "--standard", "1997", "--scan"))
    assert code == ExitCode.OK
    assert _value_lines(capsys.readouterr().out) == {"address": [str(METER)]}
    assert meter.requests == [
        ReadRequest(Address.WILDCARD, address_di, Standard.DLT645_1997).to_frame()
    ]


@contextmanager
def _simulated_smoke() -> Iterator[ScenarioRunner]:
    """The real scenario runner: its gateways pace bytes at line speed, as a DTU does."""
    smoke = load_scenario("smoke")
    runner = ScenarioRunner(smoke, seed=0, speed=60.0, clock=WarpedClock(smoke.start, 60.0).now)
    with serving(lambda: runner):
        yield runner


def test_raw_prints_whole_frames_from_a_simulated_gateway(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with _simulated_smoke() as runner:
        url = runner.endpoints().buses["bus-S1"]
        code = main(["read", "dlt645", url, "--address", "000000000001", "--di", "02010100"])
        code_raw = main(
            ["read", "dlt645", url, "--address", "000000000001", "--di", "02010100", "--raw"]
        )
    out = capsys.readouterr().out.splitlines()
    assert code == code_raw == ExitCode.OK
    traffic = [line for line in out if line.startswith(("tx ", "rx "))]
    assert [line[:2] for line in traffic] == ["tx", "rx"]
    sent, received = (bytes.fromhex(line[3:]) for line in traffic)
    request = ReadRequest(Address.parse("000000000001"), 0x02010100)
    assert sent == encode(request.to_frame(), preamble=0)
    decoder = FrameDecoder()
    decoder.feed(received)
    reply = decoder.next_frame()
    assert reply is not None
    assert decoder.pending == 0
    assert isinstance(parse_response(reply), ReadResponse)


def test_raw_json_frames_are_whole_frames(capsys: pytest.CaptureFixture[str]) -> None:
    with _simulated_smoke() as runner:
        url = runner.endpoints().buses["bus-S1"]
        args = ["--address", "000000000001", "--quantity", "voltage_a", "--json", "--raw"]
        code = main(["read", "dlt645", url, *args])
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert code == ExitCode.OK
    assert [(f["direction"], f["problem"]) for f in frames] == [("tx", None), ("rx", None)]
    assert all(f["hex"].startswith("68") and f["hex"].endswith("16") for f in frames)


def test_raw_names_bytes_that_are_not_a_frame() -> None:
    at = datetime(2026, 7, 15, tzinfo=UTC)
    reply = encode(ReadResponse(METER, ENERGY_DI, encode_value(ENERGY_DI, ENERGY)).to_frame())
    records = [
        TrafficRecord(at, Direction.RX, reply[:9]),
        TrafficRecord(at, Direction.RX, reply[9:]),
        TrafficRecord(at, Direction.RX, reply[4:12]),  # a second reply, cut off
    ]
    frames = reassemble(records)
    assert [(f.data, f.problem) for f in frames] == [
        (reply[4:], None),
        (reply[4:12], "incomplete frame"),
    ]
