"""Wire time: characters carry start, data, parity and stop bits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transports import Parity, SerialSettings, wire_time


@pytest.mark.parametrize(
    ("parity", "bytesize", "stopbits", "bits"),
    [
        (Parity.EVEN, 8, 1.0, 11),  # DL/T 645: 8E1
        (Parity.NONE, 8, 1.0, 10),  # 8N1
        (Parity.NONE, 8, 2.0, 11),  # 8N2, what Modbus asks for without parity
        (Parity.ODD, 7, 1.5, 10.5),
    ],
)
def test_bits_per_char_is_start_data_parity_stop(
    parity: Parity, bytesize: int, stopbits: float, bits: float
) -> None:
    settings = SerialSettings(port="p", parity=parity, bytesize=bytesize, stopbits=stopbits)
    assert settings.bits_per_char == bits


def test_wire_time_of_a_request_at_2400_8e1() -> None:
    settings = SerialSettings(port="p", baud=2400, parity=Parity.EVEN)
    n_bytes = 20
    assert wire_time(n_bytes, settings) == pytest.approx(n_bytes * 11 / 2400)


@given(
    n_bytes=st.integers(min_value=0, max_value=10_000),
    baud=st.sampled_from([1200, 2400, 4800, 9600, 19200, 115200]),
    parity=st.sampled_from(list(Parity)),
)
def test_wire_time_scales_with_bytes_and_inversely_with_baud(
    n_bytes: int, baud: int, parity: Parity
) -> None:
    slow = SerialSettings(port="p", baud=baud, parity=parity)
    fast = SerialSettings(port="p", baud=baud * 2, parity=parity)
    assert wire_time(n_bytes, slow) == pytest.approx(n_bytes * wire_time(1, slow))
    assert wire_time(n_bytes, fast) == pytest.approx(wire_time(n_bytes, slow) / 2)


def test_negative_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_bytes"):
        wire_time(-1, SerialSettings(port="p"))
