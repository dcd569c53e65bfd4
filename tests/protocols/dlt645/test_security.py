"""The security command (03 / 070000FF), sealed orders and the admin orders 18-1B: layouts
against the reference implementation's field order, fed whole, split and byte by byte; the
SM4 primitive against the standard's published vector; sealing that refuses any change."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dlt645 import (
    Address,
    Control,
    FrameDecoder,
    Function,
    UnexpectedMessage,
    UnsupportedFunction,
    encode,
    parse_request,
)
from protocols.dlt645.admin import ALL_EVENTS, ChangePasswordRequest, ClearRequest
from protocols.dlt645.esam_crypto import (
    SealBroken,
    auth_ciphertext,
    auth_matches,
    dispersion_factor,
    meter_key,
    seal,
    session_key,
    unseal,
)
from protocols.dlt645.frame import Frame
from protocols.dlt645.security import (
    IdentityAuthRequest,
    IdentityAuthResponse,
    SealedOrderRequest,
    SecurityErrorResponse,
    SecurityErrorWord,
    order_data,
    parse_order_data,
    parse_security_response,
)

ADDRESS = Address.parse("000000000001")


def test_sm4_matches_the_published_example_of_gb_t_32907() -> None:
    """GB/T 32907-2016 appendix A.1: key = plaintext = 0123456789abcdeffedcba9876543210."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    value = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(value), modes.ECB()).encryptor()
    assert encryptor.update(value) + encryptor.finalize() == bytes.fromhex(
        "681edf34d206965e86b3e94f536e4246"
    )


def decode_all(wire: bytes, step: int) -> list[Frame]:
    decoder = FrameDecoder()
    frames: list[Frame] = []
    for start in range(0, len(wire), step):
        decoder.feed(wire[start : start + step])
        while (frame := decoder.next_frame()) is not None:
            frames.append(frame)
    return frames


def test_identity_authentication_layout_follows_the_reference_encoder() -> None:
    """zaxai/MeterCommServer ZDLT645_2007.cpp: DI, operator code, ciphertext1, random1,
    dispersion factor, each field reversed (low byte first) and +33 on the wire."""
    request = IdentityAuthRequest(
        ADDRESS,
        ciphertext=bytes.fromhex("1122334455667788"),
        random=bytes.fromhex("0102030405060708"),
        dispersion=dispersion_factor("000000000001"),
        operator=bytes.fromhex("78563412"),
    )
    frame = request.to_frame()
    assert frame.control.function == 0x03
    assert frame.data[:4] == bytes.fromhex("ff000007")  # DI 070000FF low byte first
    assert frame.data[4:8] == bytes.fromhex("78563412")
    assert frame.data[8:16] == bytes.fromhex("8877665544332211")
    assert frame.data[16:24] == bytes.fromhex("0807060504030201")
    assert frame.data[24:32] == bytes.fromhex("0100000000000000")
    wire = encode(frame)
    for step in (len(wire), 7, 1):
        [decoded] = decode_all(wire, step)
        assert parse_request(decoded) == request


def test_the_meters_answer_gives_random2_and_the_esam_serial() -> None:
    reply = IdentityAuthResponse(
        ADDRESS, bytes.fromhex("a1b2c3d4"), bytes.fromhex("0102030405060708")
    )
    [frame] = decode_all(encode(reply.to_frame()), 1)
    assert frame.control.to_byte() == 0x83
    assert frame.data[4:8] == bytes.fromhex("d4c3b2a1")
    assert parse_security_response(frame) == reply


def test_a_c3_reply_carries_the_two_byte_security_error_word() -> None:
    frame = SecurityErrorResponse(ADDRESS, SecurityErrorWord.AUTHENTICATION_FAILED).to_frame()
    assert frame.control.to_byte() == 0xC3
    assert frame.data == bytes((0x08, 0x00))
    parsed = parse_security_response(frame)
    assert isinstance(parsed, SecurityErrorResponse)
    assert parsed.error is SecurityErrorWord.AUTHENTICATION_FAILED


def test_a_sealed_relay_order_is_told_from_a_plaintext_one_by_level_98() -> None:
    sealed = bytes(range(20))
    frame = SealedOrderRequest(ADDRESS, Function.RELAY_CONTROL, sealed).to_frame()
    assert frame.data[0] == 0x98
    assert frame.data[8:] == sealed[::-1]
    parsed = parse_request(frame)
    assert isinstance(parsed, SealedOrderRequest)
    assert parsed.sealed == sealed


def test_a_1997_reread_without_data_is_still_not_the_security_command() -> None:
    with pytest.raises(UnsupportedFunction):
        parse_request(Frame(ADDRESS, Control(0x03)))


def test_a_security_command_with_an_unknown_identifier_is_refused() -> None:
    request = IdentityAuthRequest(ADDRESS, bytes(8), bytes(8), bytes(8)).to_frame()
    broken = Frame(request.address, request.control, bytes.fromhex("ff010007") + request.data[4:])
    with pytest.raises(UnexpectedMessage, match="070001FF"):
        parse_request(broken)


@pytest.mark.parametrize(
    ("request_", "data"),
    [
        (
            ChangePasswordRequest(ADDRESS, bytes.fromhex("02563412"), bytes.fromhex("04214365")),
            "050c0004" + "02563412" + "04214365",  # DI 04000C05: the level-4 password
        ),
        (ClearRequest(ADDRESS, Function.CLEAR_DEMAND, bytes(4), bytes(4)), "00" * 8),
        (ClearRequest(ADDRESS, Function.CLEAR_METER, bytes(4), bytes(4)), "00" * 8),
        (
            ClearRequest(ADDRESS, Function.CLEAR_EVENTS, bytes(4), bytes(4), 0x03300000),
            "00" * 8 + "00003003",
        ),
    ],
)
def test_admin_orders_round_trip(request_: ChangePasswordRequest | ClearRequest, data: str) -> None:
    frame = request_.to_frame()
    assert frame.data == bytes.fromhex(data)
    [decoded] = decode_all(encode(frame), 1)
    assert parse_request(decoded) == request_


def test_event_clear_defaults_to_every_event() -> None:
    frame = ClearRequest(ADDRESS, Function.CLEAR_EVENTS, bytes(4), bytes(4)).to_frame()
    assert int.from_bytes(frame.data[8:], "little") == ALL_EVENTS


MASTER = bytes.fromhex("00112233445566778899aabbccddeeff")


def test_authentication_depends_on_the_meter_and_the_key_version() -> None:
    random1 = bytes(range(8))
    one = meter_key(MASTER, dispersion_factor("000000000001"), 1)
    assert auth_matches(one, random1, auth_ciphertext(one, random1))
    other_meter = meter_key(MASTER, dispersion_factor("000000000002"), 1)
    other_version = meter_key(MASTER, dispersion_factor("000000000001"), 0)
    assert not auth_matches(other_meter, random1, auth_ciphertext(one, random1))
    assert not auth_matches(other_version, random1, auth_ciphertext(one, random1))


@given(data=st.binary(min_size=0, max_size=40), flip=st.integers(min_value=0))
def test_sealed_data_opens_only_unchanged(data: bytes, flip: int) -> None:
    key = session_key(meter_key(MASTER, bytes(8), 1), bytes(8), b"\x01\x02\x03\x04")
    random2 = b"\x01\x02\x03\x04"
    sealed = seal(key, random2, data)
    assert unseal(key, random2, sealed) == data
    position = flip % len(sealed)
    tampered = bytearray(sealed)
    tampered[position] ^= 0x01
    with pytest.raises(SealBroken):
        unseal(key, random2, bytes(tampered))
    with pytest.raises(SealBroken):
        unseal(key, b"\x09\x09\x09\x09", sealed)  # another session's random2


def test_order_data_round_trips_with_its_expiry() -> None:
    until = datetime(2026, 12, 2, 6, 30, 15)  # noqa: DTZ001 - meter wall-clock time
    data = order_data(0x1A, until, b"\xff\xff\xff\xff")
    assert data[:2] == b"\x1a\x00"
    assert data[2:8] == bytes.fromhex("261202063015")
    opened = parse_order_data(data)
    assert (opened.code, opened.valid_until, opened.tail) == (0x1A, until, b"\xff" * 4)
