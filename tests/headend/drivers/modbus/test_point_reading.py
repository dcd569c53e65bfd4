"""The head-end's Modbus reader turns decoded point values into readings (the codec does not)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from headend.drivers.modbus.reader import point_reading
from protocols.modbus import ValueType, WordOrder, builtin_register_map, decode_point, plan_reads
from protocols.modbus.registers import pack_raw
from storage.records import FailureReason, Quality, ReadingKind

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def test_not_available_point_becomes_missing_reading_with_reason() -> None:
    point = builtin_register_map("eastron_sdm630").point("voltage_b")
    result = decode_point(point, pack_raw(math.nan, ValueType.FLOAT32, WordOrder.HIGH_FIRST))
    reading = point_reading(result, "m1", WHEN)
    assert reading.quality is Quality.MISSING
    assert reading.reason == "not_available"


def test_value_becomes_actual_reading_with_kind_and_unit() -> None:
    point = builtin_register_map("eastron_sdm120").point("energy_active_import_total")
    registers = pack_raw(1234.5, ValueType.FLOAT32, WordOrder.HIGH_FIRST)
    reading = point_reading(decode_point(point, registers), "m1", WHEN, {"phase": "a"})
    assert reading.value == 1234.5
    assert reading.unit == "kWh"
    assert reading.kind is ReadingKind.ENERGY
    assert reading.quality is Quality.ACTUAL
    assert reading.tags == {"phase": "a"}


def test_failed_request_reason_reaches_the_reading() -> None:
    plan = plan_reads(builtin_register_map("eastron_sdm630"), ["voltage_a"])
    result = plan.requests[0].failed(FailureReason.TIMEOUT)["voltage_a"]
    reading = point_reading(result, "m1", WHEN)
    assert reading.quality is Quality.MISSING
    assert reading.reason == "timeout"
