"""``headend decode`` in-process: published frames of both protocols, autodetected or named,
text and JSON, and the typed errors for bytes that are not a frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from tests.support.published_frames import load_frame_sources

FRAMES = Path(__file__).parents[2] / "protocols"
GDW = [e for s in load_frame_sources(FRAMES / "gdw1376" / "frames") for e in s.exchanges]
DLT = [e for s in load_frame_sources(FRAMES / "dlt645" / "frames") for e in s.exchanges]


def decode_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["decode", "--json", *args]) == ExitCode.OK
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


@pytest.mark.parametrize("exchange", GDW, ids=lambda e: e.name)
def test_1376_frames_are_recognised_and_their_header_printed(
    capsys: pytest.CaptureFixture[str], exchange: object
) -> None:
    from tests.support.published_frames import Exchange

    assert isinstance(exchange, Exchange)
    out = decode_json(capsys, *exchange.frames[0].text.split())
    assert out["protocol"] == "Q/GDW 1376.1"
    assert out["address"] == {
        "region": exchange.text("region"),
        "terminal": exchange.integer("terminal"),
        "master": out["address"]["master"],  # type: ignore[index]
        "group": False,
    }
    assert str(out["afn"]).startswith(f"{exchange.integer('afn'):02X}H")


@pytest.mark.parametrize("exchange", [e for e in DLT if "value" in e.stated], ids=lambda e: e.name)
def test_dlt645_replies_print_their_value(
    capsys: pytest.CaptureFixture[str], exchange: object
) -> None:
    from tests.support.published_frames import Exchange

    assert isinstance(exchange, Exchange)
    assert exchange.reply is not None
    out = decode_json(capsys, exchange.reply.text)
    assert out["protocol"] == "DL/T 645"
    assert out["value"] == exchange.number("value")


def test_forwarded_meter_reply_is_decoded_inside_the_terminal_frame(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (forward,) = [e for e in GDW if e.name == "forward-dlt645-read"]
    assert forward.reply is not None
    out = decode_json(capsys, forward.reply.text)
    units = out["units"]
    assert isinstance(units, list)
    assert len(units) == 1
    inner = units[0]["frame"]
    assert inner["address"] == forward.text("meter")
    assert inner["value"] == forward.number("value")


def test_text_output_names_fields_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    (heartbeat,) = [e for e in GDW if e.name == "heartbeat-with-clock"]
    assert main(["decode", heartbeat.frames[0].text]) == ExitCode.OK
    text = capsys.readouterr().out
    assert "afn: 02H link test" in text
    assert "clock: 2019-07-04 17:00:40" in text
    assert "unit: p0 F3" in text


def test_named_protocol_overrides_detection(capsys: pytest.CaptureFixture[str]) -> None:
    (login,) = [e for e in GDW if e.name == "login" and "simpleman" in e.where]
    assert main(["decode", "--protocol", "dlt645", login.frames[0].text]) == ExitCode.BAD_REPLY
    assert "dlt645: malformed DL/T 645 frame" in capsys.readouterr().err


def test_bad_checksum_exits_6_with_the_codec_error(capsys: pytest.CaptureFixture[str]) -> None:
    frame = "68 32 00 32 00 68 C9 00 02 34 12 00 02 71 00 00 01 00 86 16"
    assert main(["decode", frame]) == ExitCode.BAD_REPLY
    assert "checksum 86, computed 85" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [(["zz"], "is not hex bytes"), (["01 02 03"], "neither a Q/GDW 1376.1 header")],
)
def test_not_a_frame_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert main(["decode", *args]) == ExitCode.USAGE
    assert words in capsys.readouterr().err


def test_units_that_do_not_fit_are_shown_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (odd,) = [e for e in GDW if e.name == "separate-confirm-non-standard"]
    out = decode_json(capsys, odd.frames[0].text)
    assert "names no point or no item" in str(out["units_error"])
