"""Point decoding and encoding: scaling, CT/PT and not-available, as values (never readings)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.modbus import (
    ModbusProtocolError,
    Ratios,
    RegisterEncodeError,
    ValueType,
    WordOrder,
    builtin_map_names,
    builtin_register_map,
    decode_point,
    encode_point,
    plan_reads,
)
from protocols.modbus.codec import NOT_AVAILABLE
from protocols.modbus.registers import pack_raw


def test_dtsu666_applies_raw_scale_then_ct_pt() -> None:
    register_map = builtin_register_map("chint_dtsu666")
    ratios = Ratios(ct=40.0, pt=2.0)
    cases = {
        "voltage_a": (2301.0, 0.1 * ratios.pt),
        "current_a": (5123.0, 0.001 * ratios.ct),
        # raw 0.1 W, stored in kW (the canonical unit)
        "power_active_total": (11520.0, 0.1 * 0.001 * ratios.ct * ratios.pt),
        "power_factor_total": (985.0, 0.001),
        "frequency": (5001.0, 0.01),
    }
    for quantity, (raw, factor) in cases.items():
        point = register_map.point(quantity)
        registers = pack_raw(raw, ValueType.FLOAT32, WordOrder.HIGH_FIRST)
        result = decode_point(point, registers, ratios)
        assert result.value == pytest.approx(raw * factor), quantity


def test_pt_register_is_tenths() -> None:
    register_map = builtin_register_map("chint_dtsu666")
    result = decode_point(register_map.point("pt_ratio"), [100])
    assert result.value == pytest.approx(10.0)


def test_nan_is_not_available_with_reason() -> None:
    point = builtin_register_map("eastron_sdm630").point("voltage_b")
    result = decode_point(point, pack_raw(math.nan, ValueType.FLOAT32, WordOrder.HIGH_FIRST))
    assert not result.ok
    assert result.value is None
    assert result.reason == NOT_AVAILABLE


def test_acrel_int32_power_is_signed() -> None:
    point = builtin_register_map("acrel_adw300").point("power_active_total")
    registers = encode_point(point, -1.5)  # kW; the register counts W
    assert registers == pack_raw(-1500, ValueType.INT32, WordOrder.HIGH_FIRST)
    assert decode_point(point, registers).value == pytest.approx(-1.5)


def test_request_failure_marks_all_its_points() -> None:
    plan = plan_reads(builtin_register_map("eastron_sdm630"), ["voltage_a", "voltage_b"])
    results = plan.requests[0].failed("timeout")
    assert {r.reason for r in results.values()} == {"timeout"}
    assert set(results) == {"voltage_a", "voltage_b"}


def test_integer_point_cannot_hold_out_of_range_value() -> None:
    point = builtin_register_map("acrel_adw300").point("voltage_a")
    with pytest.raises(RegisterEncodeError):
        encode_point(point, 1e9)


def test_ratios_must_be_positive() -> None:
    with pytest.raises(ModbusProtocolError, match="ct ratio"):
        Ratios(ct=0)


_ALL_POINTS = [
    (name, point.quantity)
    for name in builtin_map_names()
    for point in builtin_register_map(name).points
]


@given(
    where=st.sampled_from(_ALL_POINTS),
    fraction=st.floats(0, 1),
    ct=st.sampled_from([1.0, 5.0, 40.0, 200.0]),
    pt=st.sampled_from([1.0, 10.0, 35.0]),
)
def test_encode_then_decode_returns_the_value_to_register_precision(
    where: tuple[str, str], fraction: float, ct: float, pt: float
) -> None:
    name, quantity = where
    point = builtin_register_map(name).point(quantity)
    ratios = Ratios(ct=ct, pt=pt)
    step = point.scale * ratios.factor(point.ratio)
    # Choose a value the register type can hold: up to 30000 steps keeps every type in range.
    value = fraction * 30000 * step
    decoded = decode_point(point, encode_point(point, value, ratios), ratios).value
    assert decoded is not None
    if point.value_type is ValueType.FLOAT32:
        assert decoded == pytest.approx(value, rel=1e-6, abs=1e-6 * step)
    else:
        assert abs(decoded - value) <= step / 2 + 1e-9 * abs(value)
