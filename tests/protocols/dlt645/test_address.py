from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import Address, InvalidAddress
from protocols.errors import LocalProtocolError

digits = st.text(alphabet="0123456789", min_size=12, max_size=12)


def test_nameplate_order_goes_low_byte_first_on_the_wire() -> None:
    address = Address.parse("123456789012")
    assert address.to_wire() == bytes([0x12, 0x90, 0x78, 0x56, 0x34, 0x12])
    assert str(address) == "123456789012"


def test_from_wire_restores_nameplate_order() -> None:
    assert Address.from_wire(bytes([0x78, 0x56, 0x34, 0x12, 0x00, 0x00])) == Address("000012345678")


@given(digits)
def test_wire_round_trip(text: str) -> None:
    address = Address.parse(text)
    assert Address.from_wire(address.to_wire()) == address


@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_from_int_pads_to_twelve_digits(number: int) -> None:
    assert int(Address.from_int(number).digits) == number


def test_broadcast_and_wildcard() -> None:
    assert Address.BROADCAST.to_wire() == b"\x99" * 6
    assert Address.WILDCARD.to_wire() == b"\xaa" * 6
    assert Address.BROADCAST.is_broadcast
    assert Address.WILDCARD.is_wildcard
    assert not Address.parse("123456789012").is_wildcard


def test_partial_wildcard_reaches_matching_meters_only() -> None:
    abbreviated = Address.parse("aaaaaa789012")
    assert abbreviated.to_wire() == bytes([0x12, 0x90, 0x78, 0xAA, 0xAA, 0xAA])
    assert abbreviated.matches(Address.parse("123456789012"))
    assert not abbreviated.matches(Address.parse("123456789013"))


def test_meter_matches_own_address_broadcast_and_nothing_else() -> None:
    meter = Address.parse("000000000161")
    assert Address.parse("000000000161").matches(meter)
    assert Address.BROADCAST.matches(meter)
    assert Address.WILDCARD.matches(meter)
    assert not Address.parse("000000000162").matches(meter)


@pytest.mark.parametrize(
    "text",
    [
        "12345678901",
        "1234567890123",
        "12345678901B",
        "1234 5678901",
        "123456AA9012",
        "-12345678901",
    ],
)
def test_bad_text_is_rejected_naming_the_input(text: str) -> None:
    with pytest.raises(InvalidAddress, match=repr(text.upper())[1:-1]):
        Address.parse(text)


def test_bad_wire_bytes_are_rejected_with_hex() -> None:
    with pytest.raises(InvalidAddress, match="1f 00 00 00 00 00"):
        Address.from_wire(bytes([0x1F, 0, 0, 0, 0, 0]))
    with pytest.raises(InvalidAddress, match="need 6 bytes"):
        Address.from_wire(b"\x00" * 5)


def test_address_errors_are_local_protocol_errors() -> None:
    with pytest.raises(LocalProtocolError):
        Address.from_int(10**12)
