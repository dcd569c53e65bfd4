"""The read routes' hand-built JSON is byte for byte what their response models would send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter

from headend.api.bodies import (
    history_json,
    json_array,
    meter_json,
    reading_rows,
    readings_json,
)
from headend.api.models import History, MeterDetail, PointOut, ReadingOut
from headend.api.stream import reading_event
from storage.billing import StoredPoint
from storage.records import Quality, Reading, ReadingKind

AT = datetime(2026, 3, 10, 1, 2, 3, 456789, tzinfo=UTC)
VALUES = [221.7, 0.1 + 0.2, 1e20, 1e-7, -0.0, 12, float("inf"), float("nan")]
"""Floats in every form, an int (as an MQTT payload gives it) and the non-finite ones."""


def readings() -> list[Reading]:
    chosen = [
        Reading("m1", f"voltage_{n}", value, "V", AT + timedelta(seconds=n))
        for n, value in enumerate(VALUES)
    ]
    chosen.append(Reading.missing("m1", "current_a", "A", AT.replace(microsecond=0), "timeout"))
    chosen.append(
        Reading("电表-7", "frozen_energy", 1.5, "kWh", AT, ReadingKind.FROZEN, Quality.BACKFILLED)
    )
    return chosen


def models_json(rows: list[Reading]) -> bytes:
    return TypeAdapter(list[ReadingOut]).dump_json([ReadingOut.of(r) for r in rows])


def test_readings_are_encoded_as_the_model_would() -> None:
    assert readings_json(readings()) == models_json(readings())
    assert readings_json([]) == b"[]" == models_json([])


def test_rows_of_several_meters_join_into_one_list() -> None:
    first, second = readings()[:3], readings()[3:]
    joined = json_array([reading_rows(first), reading_rows([]), reading_rows(second)])
    assert joined == models_json(first + second)
    assert json_array([reading_rows(first)]) == models_json(first)
    assert json_array([]) == b"[]" == json_array([b""])


def test_an_integer_value_stays_a_float() -> None:
    [row] = json.loads(readings_json([Reading("m1", "power", 12, "kW", AT)]))
    assert row["value"] == 12.0
    assert isinstance(row["value"], float)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_meter_page_is_encoded_as_the_model_would(count: int) -> None:
    summary: dict[str, object] = {
        "id": "m1",
        "channel": "bus-1",
        "protocol": "dlt645",
        "address": "000000000001",
        "unit_id": None,
        "transformer": "T1",
        "building": "B1",
        "household": "1-101",
        "phase": "A",
        "kind": "load",
        "status": "online",
        "last_reason": None,
        "terminal": None,
        "pn": None,
        "block_reads": {"0201FF00": {"supported": False, "why": "refused with error word 0x02"}},
        "last_pull": None,
        "last_frozen_day": None,
    }
    latest = readings()[:count]
    expected = MeterDetail.model_validate(
        {**summary, "latest": [ReadingOut.of(r) for r in latest]}
    ).model_dump_json()
    assert meter_json(summary, reading_rows(latest)) == expected.encode()


def test_history_is_encoded_as_the_model_would() -> None:
    points = [
        StoredPoint("m1", "voltage_a", r.timestamp, r.value, r.unit, r.quality, r.reason)
        for r in readings()
    ]
    start = datetime(2026, 3, 9, 9, 0, tzinfo=timezone(timedelta(hours=8)))  # as asked
    head = {"meter": "m1", "quantity": "voltage_a", "kind": ReadingKind.INSTANT._value_}
    expected = History(
        meter="m1",
        quantity="voltage_a",
        kind=ReadingKind.INSTANT,
        start=start,
        end=AT,
        points=[PointOut.of(p) for p in points],
    ).model_dump_json()
    assert history_json({**head, "start": start, "end": AT}, points) == expected.encode()


def test_a_live_reading_event_carries_the_latest_row_on_one_line() -> None:
    for reading in readings():
        event = reading_event(reading)
        head, data, end = event.split(b"\n", 2)
        assert (head, end) == (b"event: reading", b"\n")
        assert data.startswith(b"data: ")
        assert json.loads(data.removeprefix(b"data: ")) == json.loads(
            ReadingOut.of(reading).model_dump_json()
        )
