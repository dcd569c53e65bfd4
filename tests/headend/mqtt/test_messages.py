"""The JSON the head-end publishes for readings and events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from headend.mqtt.messages import event_to_json, event_topic, reading_payload, reading_to_json
from storage.records import EventRecord, Quality, Reading, Severity

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_an_event_names_its_meter_kind_and_state() -> None:
    record = EventRecord(
        "m1",
        "relay_trip",
        AT,
        Severity.INFO,
        active=False,
        detail="ops: relay trip: relay open (ok)",
        tags={"transformer": "T1"},
    )
    assert event_topic(record) == "events/m1/relay_trip"
    assert event_to_json(record) == {
        "meter": "m1",
        "event": "relay_trip",
        "timestamp": "2026-11-30T08:00:00+00:00",
        "severity": "info",
        "active": False,
        "value": None,
        "detail": "ops: relay trip: relay open (ok)",
        "tags": {"transformer": "T1"},
    }


def test_a_missing_reading_says_why_and_an_untagged_one_has_no_tags() -> None:
    reading = Reading("m1", "voltage_a", None, "V", AT, quality=Quality.MISSING, reason="timeout")
    message = reading_to_json(reading)
    assert (message["quality"], message["reason"], message["value"]) == ("missing", "timeout", None)
    assert "tags" not in message


def test_a_published_reading_is_its_json_in_compact_utf8() -> None:
    reading = Reading("电表1", "voltage_a", 231.25, "V", AT, tags={"transformer": "台区1"})
    data = reading_payload(reading)
    assert json.loads(data) == reading_to_json(reading)
    assert b" " not in data  # compact: no separators with spaces
    assert "台区1".encode() in data  # UTF-8, as MQTT payload text is
