"""Line-protocol encoding: exact output, escaping of every special character, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.errors import RecordError
from storage.line_protocol import (
    LineEncoder,
    escape_key,
    escape_measurement,
    quote_string,
    timestamp_ns,
)
from storage.records import (
    CollectionOutcome,
    CollectionStatus,
    EventRecord,
    FailureReason,
    Quality,
    Reading,
    ReadingKind,
    Severity,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
T0_NS = 1767323045123456000


def test_timestamp_is_exact_nanoseconds() -> None:
    assert timestamp_ns(T0) == T0_NS
    shifted = T0.astimezone(timezone(timedelta(hours=8)))
    assert timestamp_ns(shifted) == T0_NS


def test_reading_line_has_kind_measurement_tags_value_quality_and_time() -> None:
    reading = Reading(
        "M1",
        "energy_active_import_total",
        1234.5,
        "kWh",
        T0,
        kind=ReadingKind.ENERGY,
        quality=Quality.BACKFILLED,
        tags={"transformer": "T1", "building": "B 2"},
    )
    line = LineEncoder().encode(reading)
    assert line == (
        "energy,meter=M1,quantity=energy_active_import_total,unit=kWh,building=B\\ 2,"
        f'transformer=T1 value=1234.5,quality="backfilled" {T0_NS}'
    )


def test_missing_reading_carries_quality_and_reason_without_value() -> None:
    reading = Reading.missing("M1", "voltage_a", "V", T0, FailureReason.TIMEOUT)
    line = LineEncoder().encode(reading)
    assert line == (
        f'instant,meter=M1,quantity=voltage_a,unit=V quality="missing",reason="timeout" {T0_NS}'
    )


def test_integer_values_are_floats_and_an_empty_unit_is_left_out() -> None:
    reading = Reading("M1", "relay", 1, "", T0, kind=ReadingKind.STATE)
    assert LineEncoder().encode(reading).startswith("state,meter=M1,quantity=relay value=1.0,")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_refused_naming_the_reading(value: float) -> None:
    reading = Reading("M7", "power_total", value, "W", T0)
    with pytest.raises(RecordError, match="M7/power_total"):
        LineEncoder().encode(reading)


def test_event_and_collection_status_lines() -> None:
    event = EventRecord(
        "M1", "voltage_low", T0, Severity.CRITICAL, value=180.5, detail='say "hi" \\ ok'
    )
    assert LineEncoder().encode(event) == (
        "event,meter=M1,event=voltage_low,severity=critical "
        f'active=true,value=180.5,detail="say \\"hi\\" \\\\ ok",quality="estimated" {T0_NS}'
    )
    status = CollectionStatus("M1", T0, CollectionOutcome.PARTIAL, 10, 7, 0.25, "timeout")
    assert LineEncoder().encode(status) == (
        'collection,meter=M1 outcome="partial",attempted=10i,succeeded=7i,latency_s=0.25,'
        f'reason="timeout",quality="actual" {T0_NS}'
    )


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a,b", "a\\,b"),
        ("a=b", "a\\=b"),
        ("a b", "a\\ b"),
        ('q"uote', 'q"uote'),
        ("back\\slash", "back\\slash"),
        ("中文 表", "中文\\ 表"),
        (",= ", "\\,\\=\\ "),
    ],
)
def test_tag_escaping(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


def test_measurement_escaping_leaves_equals_alone() -> None:
    assert escape_measurement("a b,c=d") == "a\\ b\\,c=d"


@pytest.mark.parametrize("bad", ["new\nline", "cr\rhere", "ends\\", "a\\,b", "a\\ b", ""])
def test_unrepresentable_tags_are_refused(bad: str) -> None:
    with pytest.raises(RecordError, match="tag"):
        escape_key(bad, "tag transformer of meter M1")


def test_string_fields_escape_quote_and_backslash_and_refuse_newlines() -> None:
    assert quote_string('a"b\\c') == '"a\\"b\\\\c"'
    with pytest.raises(RecordError, match="newline"):
        quote_string("two\nlines")


def test_reserved_tag_names_are_refused() -> None:
    reading = Reading("M1", "voltage_a", 230.0, "V", T0, tags={"meter": "other"})
    with pytest.raises(RecordError, match="reserved"):
        LineEncoder().encode(reading)


def test_series_cache_follows_changed_tags_and_kind() -> None:
    encoder = LineEncoder()
    first = Reading("M1", "voltage_a", 230.0, "V", T0, tags={"phase": "A"})
    moved = Reading("M1", "voltage_a", 230.0, "V", T0, tags={"phase": "B"})
    frozen = Reading("M1", "voltage_a", 230.0, "V", T0, kind=ReadingKind.FROZEN)
    lines = encoder.encode_many([first, moved, first, frozen])
    assert [line.split(" ")[0] for line in lines] == [
        "instant,meter=M1,quantity=voltage_a,unit=V,phase=A",
        "instant,meter=M1,quantity=voltage_a,unit=V,phase=B",
        "instant,meter=M1,quantity=voltage_a,unit=V,phase=A",
        "frozen,meter=M1,quantity=voltage_a,unit=V",
    ]


def _unescape_key(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text) and text[index + 1] in ",= ":
            out.append(text[index + 1])
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


@given(st.text(min_size=1))
def test_escaped_tags_split_cleanly_and_unescape_back(raw: str) -> None:
    try:
        escaped = escape_key(raw)
    except RecordError:
        unsafe = ("\n", "\r", "\\,", "\\=", "\\ ")
        assert raw.endswith("\\") or any(marker in raw for marker in unsafe)
        return
    # No unescaped separator survives, so a parser splitting on them sees one token.
    stripped = escaped.replace("\\,", "").replace("\\=", "").replace("\\ ", "")
    assert not set(",= ") & set(stripped)
    assert _unescape_key(escaped) == raw
