"""The reading model refuses values that would lie to billing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from storage.records import FailureReason, Quality, Reading, ReadingKind

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_missing_reading_carries_reason_and_no_value() -> None:
    reading = Reading.missing("000000000001", "voltage_a", "V", T0, FailureReason.TIMEOUT)
    assert reading.quality is Quality.MISSING
    assert reading.value is None
    assert reading.reason == "timeout"


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Reading("m1", "voltage_a", 220.0, "V", datetime(2026, 1, 1))  # noqa: DTZ001


def test_actual_reading_needs_a_value() -> None:
    with pytest.raises(ValueError, match="needs a value"):
        Reading("m1", "energy_active_import_total", None, "kWh", T0, kind=ReadingKind.ENERGY)


def test_missing_reading_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="without a reason"):
        Reading("m1", "voltage_a", None, "V", T0, quality=Quality.MISSING)


def test_actual_is_the_reading_the_constructor_makes() -> None:
    """``Reading.actual`` skips ``__init__``; what it builds must not differ in any field."""
    at = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
    tags = {"transformer": "T1", "source": "terminal"}
    fast = Reading.actual("TTU_T1", "voltage_a", 231.4, "V", at, ReadingKind.INSTANT, tags)
    made = Reading("TTU_T1", "voltage_a", 231.4, "V", at, ReadingKind.INSTANT, tags=tags)
    assert fast == made
    assert (fast.quality, fast.reason) == (Quality.ACTUAL, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.value = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("quality", [Quality.BACKFILLED, Quality.ESTIMATED])
def test_actual_builds_any_quality_with_a_value(quality: Quality) -> None:
    """The concentrator pull builds its late days through the fast path too."""
    fast = Reading.actual(
        "m1", "energy_active_import_total", 12.5, "kWh", T0, ReadingKind.FROZEN, {}, quality
    )
    made = Reading("m1", "energy_active_import_total", 12.5, "kWh", T0, ReadingKind.FROZEN, quality)
    assert fast == made


def test_actual_refuses_missing() -> None:
    with pytest.raises(ValueError, match=r"m1/voltage_a: missing readings use Reading\.missing"):
        Reading.actual("m1", "voltage_a", 1.0, "V", T0, ReadingKind.INSTANT, {}, Quality.MISSING)
