"""The terminal's JSON codec and configuration checks (no broker needed)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from simulators.community.model import Community
from simulators.scenario import Scenario
from simulators.terminal.config import DEFAULT_POINTS, Point, TerminalConfig
from simulators.terminal.errors import RequestError, TerminalConfigError
from simulators.terminal.payload import (
    decode_request,
    decode_values,
    encode_error,
    encode_values,
    format_timestamp,
    parse_timestamp,
)


@pytest.fixture
def evening(smoke: Scenario) -> Community:
    community = Community.from_scenario(smoke, seed=9)
    community.advance_to(smoke.start + timedelta(hours=20, seconds=1, milliseconds=250))
    return community


def test_telemetry_has_the_terminal_shape(evening: Community, smoke: Scenario) -> None:
    config = TerminalConfig(utc_offset=smoke.utc_offset)
    values = evening.transformer_values("T1")
    document = json.loads(encode_values(config, values, "42"))
    assert document["token"] == "42"
    assert parse_timestamp(document["timestamp"]) == values.timestamp
    assert document["timestamp"].endswith("+0800")
    [device] = document["body"]
    assert device["dev"] == "T1"
    assert [p["name"] for p in device["body"]] == [p.name for p in DEFAULT_POINTS]
    assert all(p["quality"] == "0" and isinstance(p["val"], str) for p in device["body"])
    flat = decode_values(encode_values(config, values, "42"))["T1"]
    assert float(flat["TotW"]) == pytest.approx(values.power_active_total * 1000, abs=0.5)
    assert float(flat["PhV_phsB"]) == pytest.approx(values.voltage_b, abs=0.05)
    assert float(flat["LoadRate"]) == pytest.approx(values.load_rate, abs=0.05)


def test_numbers_and_custom_mapping(evening: Community) -> None:
    config = TerminalConfig(
        points=(Point("Ua", "voltage_a", decimals=3), Point("P_kW", "power_active_total")),
        dev_name="ADC_{transformer}",
        values_as_strings=False,
    )
    values = evening.transformer_values("T1")
    flat = decode_values(encode_values(config, values, "1"))
    assert flat == {
        "ADC_T1": {
            "Ua": round(values.voltage_a, 3),
            "P_kW": round(values.power_active_total, 2),
        }
    }


def test_requests_are_checked(smoke: Scenario) -> None:
    config = TerminalConfig()
    assert decode_request(config, b'{"token": "t1"}').points == ()
    assert decode_request(config, b'{"token": 7, "body": ["Hz"]}').token == "7"
    with pytest.raises(RequestError, match="not JSON") as caught:
        decode_request(config, b"{nope")
    assert caught.value.token is None
    with pytest.raises(RequestError, match="token"):
        decode_request(config, b'{"body": []}')
    with pytest.raises(RequestError, match="unknown point") as caught:
        decode_request(config, b'{"token": "t2", "body": ["Hz", "Bogus"]}')
    assert caught.value.token == "t2"
    error = json.loads(encode_error(config, "t2", smoke.start, "boom"))
    assert error["token"] == "t2"
    assert error["status"] == "error"


def test_timestamps_round_trip(smoke: Scenario) -> None:
    moment = smoke.start + timedelta(hours=3, milliseconds=7)
    text = format_timestamp(moment, smoke.utc_offset)
    assert text == "2026-07-15T03:00:00.007+0800"
    assert parse_timestamp(text) == moment


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"telemetry_topic": "terminal/telemetry"}, "telemetry_topic: needs"),
        ({"request_topic": "terminal/+/{transformer}"}, "wildcards"),
        ({"qos": 3}, "qos"),
        ({"points": (Point("a", "voltage_a"), Point("a", "voltage_b"))}, "duplicate"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TerminalConfigError, match=message):
        TerminalConfig(**kwargs)  # type: ignore[arg-type]


def test_points_must_name_a_transformer_field() -> None:
    with pytest.raises(TerminalConfigError, match="no numeric field 'volts'"):
        Point("U", "volts")
