"""Terminal telemetry parsing: good items land, bad ones are named and skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from headend.config.mqtt import MqttConfig
from headend.config.terminal_points import DEFAULT_TERMINAL_NAMES
from headend.mqtt.terminal_payload import (
    BadPayload,
    PayloadLimits,
    Problem,
    parse_terminal_payload,
    parse_timestamp,
)
from storage.records import Quality, ReadingKind

DEVICES = {"TTU_T1": "T1"}
TOPIC = "terminal/TTU_T1/telemetry"
NAMES = MqttConfig(host="localhost", port=1883, ingest_topics=("t/+",)).points


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
    # Terminals send W and Wh; we store kW and kWh.
    power, energy = by_quantity["power_active_total"], by_quantity["energy_active_import_total"]
    assert power.value == pytest.approx(0.3521)
    assert power.unit == "kW"
    assert energy.value == pytest.approx(10.2345)
    assert energy.unit == "kWh"


def test_bad_item_is_named_and_the_rest_survive() -> None:
    data = payload(
        {"name": "PhV_phsA", "val": "abc"},
        {"name": "PhV_phsB", "val": "229.0"},
        {"name": "PhV_phsC", "val": "NaN"},
        "not an object",
    )
    parsed = parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES)
    assert [r.quantity for r in parsed.readings] == ["voltage_b"]
    assert [p.reason for p in parsed.problems] == ["bad_value", "bad_value", "bad_item"]
    assert "PhV_phsA" in parsed.problems[0].text
    assert "'abc'" in parsed.problems[0].text
    assert "TTU_T1" in parsed.problems[0].text


def test_unknown_device_is_reported() -> None:
    parsed = parse_terminal_payload(
        TOPIC, payload({"name": "PhV_phsA", "val": 1}, dev="TTU_X"), DEFAULT_TERMINAL_NAMES, DEVICES
    )
    assert parsed.readings == []
    assert parsed.problems == [Problem("unknown_device", "body[0]: unknown device 'TTU_X'")]


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


# -- hostile input: every message is bytes from a stranger -------------------------------------


def item(name: str = "PhV_phsA", val: object = "230.0", **extra: object) -> dict[str, object]:
    return {"name": name, "val": val, **extra}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
        (b'{"body": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}", "too_deep"),
        (b"1" * 5000, "not_object"),  # read as a float, never hits the 4300-digit int limit
        (b"x" * 300_000, "too_large"),
        (
            b'{"body": ' + json.dumps([{"dev": "TTU_T1", "body": [item()] * 6000}]).encode() + b"}",
            "too_many_items",
        ),
    ],
)
def test_hostile_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadPayload) as info:
        parse_terminal_payload(TOPIC, raw, DEFAULT_TERMINAL_NAMES, DEVICES)
    assert info.value.reason == reason
    assert info.value.topic == TOPIC


def test_limits_are_configurable() -> None:
    data = payload(item(), item("PhV_phsB"))
    with pytest.raises(BadPayload, match="3 items, more than the limit of 2"):
        parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES, PayloadLimits(1000, 2))
    with pytest.raises(BadPayload, match="more than the limit of 100"):
        parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES, PayloadLimits(100, 9))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (item(val=10**4000), "bad_value"),  # a 4001-digit integer: float() would overflow
        (item(val="9" * 5000), "bad_value"),
        (item(val=1e308 * 10), "bad_value"),  # Infinity
        (item(timestamp=float("inf")), "bad_timestamp"),
        (item(timestamp=float("nan")), "bad_timestamp"),
        (item(timestamp=1e20), "bad_timestamp"),
        (item(timestamp=-1e20), "bad_timestamp"),
        (item(timestamp=10**4000), "bad_timestamp"),
        (item(timestamp="9999-12-31T23:59:59Z"), "bad_timestamp"),
        (item(timestamp="2263-01-01T00:00:00Z"), "bad_timestamp"),
        (item(timestamp="1600-01-01T00:00:00Z"), "bad_timestamp"),
        (item(timestamp="0001-01-01T00:00:00+08:00"), "bad_timestamp"),
        (item(timestamp="tomorrow"), "bad_timestamp"),
        (item(timestamp="2026-11-23T00:00:00Z" * 10), "bad_timestamp"),
        (item(timestamp=[1, 2]), "bad_timestamp"),
        (item(quality={"deep": [1]}), "bad_quality"),
        (item(quality="x" * 100), "bad_quality"),
        (item(val=[1]), "bad_value"),
        (item(val=True), "bad_value"),
    ],
)
def test_hostile_items_are_named_and_the_rest_survive(bad: dict[str, object], reason: str) -> None:
    # json.dumps writes inf/nan as Infinity/NaN, which json.loads (and terminals) accept.
    data = payload(bad, item("PhV_phsB", "229.5"))
    parsed = parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, DEVICES)
    assert [r.value for r in parsed.readings] == [229.5]
    (problem,) = parsed.problems
    assert problem.reason == reason
    assert "TTU_T1" in problem.text
    assert str(bad["name"]) in problem.text
    assert len(problem.text) < 200  # a 5000-character value is not copied into logs


def test_storable_range_edges() -> None:
    assert parse_timestamp("2262-04-11T23:47:16Z") == datetime(2262, 4, 11, 23, 47, 16, tzinfo=UTC)
    assert parse_timestamp("1677-09-22T00:00:00Z") == datetime(1677, 9, 22, tzinfo=UTC)
    with pytest.raises(ValueError, match="storable range"):
        parse_timestamp("2262-04-12T00:00:00Z")
    with pytest.raises(ValueError, match="storable range"):
        parse_timestamp("1677-09-21T00:00:00Z")


_VALUES = st.one_of(
    st.sampled_from(["230.5", "1e400", "nan", "x", "", " 7 ", "1" * 70, "-0"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.none(),
    st.booleans(),
)
_ITEMS = st.fixed_dictionaries(
    {"name": st.sampled_from(["PhV_phsA", "TotW", "SupWh", "NotMapped"]), "val": _VALUES},
    optional={
        "quality": st.sampled_from(["0", "good", "1", "bad!", 0, 3, True, None, ["0"]]),
        "timestamp": st.sampled_from(
            ["2026-11-23T19:31:00+08:00", "yesterday", 1_700_000_000, None, ["t"]]
        ),
    },
)


@given(st.lists(_ITEMS, min_size=1, max_size=6))
@example([{"name": "PhV_phsA", "val": "2", "quality": "1"}])
@example([{"name": "TotW", "val": "1e400"}, {"name": "TotW", "val": "9e305"}])
def test_an_item_after_others_is_decided_as_one_alone(items: list[dict[str, object]]) -> None:
    """The parser builds a common item on a short path once the message's timestamp text was
    parsed: each item, after a first one that parses that text, gives what it gives alone."""
    first = {"name": "PhV_phsB", "val": "1"}  # parses the message's timestamp text
    together = parse_terminal_payload(TOPIC, payload(first, *items), NAMES, DEVICES)
    alone = [parse_terminal_payload(TOPIC, payload(first, i), NAMES, DEVICES) for i in items]
    assert together.readings == alone[0].readings[:1] + [r for o in alone for r in o.readings[1:]]
    assert [p.reason for p in together.problems] == [p.reason for o in alone for p in o.problems]
    assert [p.text.split(": ", 1)[1] for p in together.problems] == [
        p.text.split(": ", 1)[1] for o in alone for p in o.problems
    ]


_TEXT = st.text(max_size=12)
_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["231.4", "1e400", "-0", " 7 ", "1_000", "abc", "x" * 70, ""]),
    st.integers(-(10**30), 10**30),
    st.none(),
)
_STAMPS = st.one_of(
    st.sampled_from(
        ["2026-11-23T19:30:00.000+0800", "2026-11-23T11:31:00Z", "2026-11-23T11:31:00", "?"]
    ),
    st.integers(0, 2 * 10**12),
    st.none(),
)
_ITEMS = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(sorted(DEFAULT_TERMINAL_NAMES)), _TEXT), "val": _VALUES},
    optional={
        "quality": st.one_of(st.sampled_from(["0", "good", "1", ""]), st.integers(0, 3)),
        "timestamp": _STAMPS,
    },
)
_MESSAGES = st.fixed_dictionaries(
    {
        "body": st.lists(
            st.fixed_dictionaries(
                {
                    "dev": st.sampled_from(["TTU_T1", "TTU_T2", "TTU_X"]),
                    "body": st.lists(_ITEMS, max_size=6),
                }
            ),
            max_size=3,
        )
    },
    optional={"timestamp": _STAMPS, "token": _TEXT},
)


@given(_MESSAGES)
@example({"timestamp": "2026-11-23T19:30:00.000+0800", "body": []})
def test_the_typed_path_gives_what_the_general_path_gives(message: dict[str, object]) -> None:
    """Messages of the common shape decode straight into structs (msgspec); the answer, readings
    and problems, is the one the stdlib path that names every problem gives."""
    from headend.mqtt.terminal_payload import _general

    data = json.dumps(message).encode()
    devices = {"TTU_T1": "T1", "TTU_T2": "T2"}
    limits = PayloadLimits()
    assert parse_terminal_payload(TOPIC, data, DEFAULT_TERMINAL_NAMES, devices) == _general(
        TOPIC, data, DEFAULT_TERMINAL_NAMES, devices, limits
    )


def test_a_common_message_takes_the_typed_path() -> None:
    """The bench's message shape is what the typed decoder accepts (else the speed-up is lost)."""
    from headend.mqtt.terminal_payload import _TYPED, _common

    data = payload({"name": "PhV_phsA", "val": "231.4", "quality": "0"})
    parsed = _common(_TYPED.decode(data), DEFAULT_TERMINAL_NAMES, DEVICES, PayloadLimits())
    assert parsed is not None
    assert [(r.quantity, r.value, r.quality) for r in parsed.readings] == [
        ("voltage_a", 231.4, Quality.ACTUAL)
    ]
