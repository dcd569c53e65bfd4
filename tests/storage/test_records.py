"""The reading model refuses values that would lie to billing."""

from __future__ import annotations

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
