"""Register packing: word order, integer types, NaN (real replies: test_published_frames)."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.modbus import RegisterDecodeError, RegisterEncodeError, ValueType, WordOrder
from protocols.modbus.registers import pack_raw, unpack_raw


def test_word_order_swaps_the_two_words() -> None:
    high_first = pack_raw(1234.5, ValueType.FLOAT32, WordOrder.HIGH_FIRST)
    low_first = pack_raw(1234.5, ValueType.FLOAT32, WordOrder.LOW_FIRST)
    assert low_first == list(reversed(high_first))
    assert high_first == [
        int.from_bytes(struct.pack(">f", 1234.5)[i : i + 2], "big") for i in (0, 2)
    ]


def test_nan_passes_through_float32() -> None:
    registers = pack_raw(math.nan, ValueType.FLOAT32, WordOrder.HIGH_FIRST)
    assert math.isnan(unpack_raw(registers, ValueType.FLOAT32, WordOrder.HIGH_FIRST))


def test_int16_is_signed_and_uint16_is_not() -> None:
    assert unpack_raw([0xFFFF], ValueType.INT16, WordOrder.HIGH_FIRST) == -1
    assert unpack_raw([0xFFFF], ValueType.UINT16, WordOrder.HIGH_FIRST) == 0xFFFF


def test_wrong_register_count_is_our_error() -> None:
    with pytest.raises(RegisterDecodeError, match="needs 2"):
        unpack_raw([1], ValueType.INT32, WordOrder.HIGH_FIRST)


def test_out_of_range_integer_cannot_be_encoded() -> None:
    with pytest.raises(RegisterEncodeError, match="uint16"):
        pack_raw(70000, ValueType.UINT16, WordOrder.HIGH_FIRST)


_INT_RANGES = {
    ValueType.INT16: (-(2**15), 2**15 - 1),
    ValueType.UINT16: (0, 2**16 - 1),
    ValueType.INT32: (-(2**31), 2**31 - 1),
    ValueType.UINT32: (0, 2**32 - 1),
}


@given(
    data=st.data(),
    value_type=st.sampled_from(sorted(_INT_RANGES)),
    word_order=st.sampled_from(list(WordOrder)),
)
def test_integers_round_trip(
    data: st.DataObject, value_type: ValueType, word_order: WordOrder
) -> None:
    low, high = _INT_RANGES[value_type]
    value = data.draw(st.integers(low, high))
    registers = pack_raw(value, value_type, word_order)
    assert len(registers) == value_type.width
    assert all(0 <= word <= 0xFFFF for word in registers)
    assert unpack_raw(registers, value_type, word_order) == value


@given(
    value=st.floats(width=32, allow_nan=False),
    word_order=st.sampled_from(list(WordOrder)),
)
def test_float32_round_trips(value: float, word_order: WordOrder) -> None:
    registers = pack_raw(value, ValueType.FLOAT32, word_order)
    assert unpack_raw(registers, ValueType.FLOAT32, word_order) == value
