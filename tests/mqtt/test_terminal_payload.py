"""Terminal telemetry parsing: good items land, bad ones are named and skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from headend.fleet_config import DEFAULT_TERMINAL_NAMES
from headend.mqtt.terminal_payload import BadPayload, parse_terminal_payload, parse_timestamp
from headend.readings import Quality, ReadingKind

DEVICES = {"TTU_T1": "T1"}
TOPIC = "terminal/TTU_T1/telemetry"


def payload(*items: object, dev: str = "TTU_T1") -> bytes:
    message = {
        "token": "42",
        "timestamp": "2026-11-23T19:30:00.000+0800",
        "body": [{"dev": dev, "body": list(items)}],
    }
    return json.dumps(message).encode()


def test_known_names_become_readings_in_utc() -> None:
    data = payload(
        {"name": "PhV_phsA", "val": "231.4", "quality": "0"},
        {"name": "TotW", "val": 352.1, "quality": "0", "timestamp": 1795433400000},
        {"name": "SupWh", "val": "10234.5", "quality": "0"},
        {"name": "SomethingElse", "val": "1"},
    )
    parsed = parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES)
    assert parsed.problems == []
    by_quantity = {r.quantity: r for r in parsed.readings}
    assert set(by_quantity) == {"voltage_a", "power_active_total", "energy_active_import_total"}
    voltage = by_quantity["voltage_a"]
    assert voltage.value == pytest.approx(231.4)
    assert voltage.unit == "V"
    assert voltage.timestamp == datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
    assert voltage.tags["transformer"] == "T1"
    assert by_quantity["power_active_total"].timestamp == datetime.fromtimestamp(1795433400, UTC)
    assert by_quantity["energy_active_import_total"].kind is ReadingKind.ENERGY


def test_bad_item_is_named_and_the_rest_survive() -> None:
    data = payload(
        {"name": "PhV_phsA", "val": "abc"},
        {"name": "PhV_phsB", "val": "229.0"},
        {"name": "PhV_phsC", "val": "NaN"},
        "not an object",
    )
    parsed = parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES)
    assert [r.quantity for r in parsed.readings] == ["voltage_b"]
    assert len(parsed.problems) == 3
    assert "PhV_phsA" in parsed.problems[0]
    assert "'abc'" in parsed.problems[0]
    assert "TTU_T1" in parsed.problems[0]


def test_unknown_device_is_reported() -> None:
    parsed = parse_terminal_payload(
        TOPIC, payload({"name": "PhV_phsA", "val": 1}, dev="TTU_X"), DEFAULT_TERMINAL_NAMES, DEVICES
    )
    assert parsed.readings == []
    assert parsed.problems == ["body[0]: unknown device 'TTU_X'"]


def test_doubtful_quality_is_kept_as_estimated() -> None:
    data = payload({"name": "PhV_phsA", "val": 250, "quality": "1"})
    (reading,) = parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES).readings
    assert reading.quality is Quality.ESTIMATED
    assert reading.reason == "terminal_quality_1"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"body": 3}', "'body'"),
    ],
)
def test_unusable_messages_raise_with_topic(raw: bytes, problem: str) -> None:
    with pytest.raises(BadPayload, match=problem) as info:
        parse_terminal_payload(TOPIC, raw, DEFAULT_TERMINAL_NAMES, DEVICES)
    assert info.value.topic == TOPIC


def test_timestamps() -> None:
    assert parse_timestamp("2026-11-23T00:00:00Z") == datetime(2026, 11, 23, tzinfo=UTC)
    assert parse_timestamp(1795392000) == datetime(2026, 11, 23, tzinfo=UTC)
    with pytest.raises(ValueError, match="time zone"):
        parse_timestamp("2026-11-23T00:00:00")
    with pytest.raises(ValueError, match="not a time"):
        parse_timestamp(True)
