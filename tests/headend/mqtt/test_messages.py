"""The JSON the head-end publishes for readings and events."""

from __future__ import annotations

from datetime import UTC, datetime

from headend.mqtt.messages import event_to_json, event_topic, reading_to_json
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
