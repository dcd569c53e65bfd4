"""Modbus RTU frames published by others, from ``frames/`` (one TOML file per source).

RTU framing is pymodbus's job (behind headend/drivers/modbus/adapter.py); what our codec owns is the
registers. So each frame's CRC is recomputed by hand here, its registers are taken from the
PDU, decoded to the value the source states, and encoded back to the same registers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.modbus import ValueType, WordOrder
from protocols.modbus.registers import pack_raw, unpack_raw
from tests.support.published_frames import Exchange, load_frame_sources

SOURCES = load_frame_sources(Path(__file__).parent / "frames")
REPLIES = [e for source in SOURCES for e in source.exchanges if e.reply is not None]


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (reflected polynomial 0xA001, initial 0xFFFF), written out bit by bit."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc_is_right(raw: bytes) -> bool:
    return crc16_modbus(raw[:-2]) == int.from_bytes(raw[-2:], "little")


def registers_of_reply(raw: bytes) -> list[int]:
    byte_count = raw[2]
    data = raw[3 : 3 + byte_count]
    assert len(raw) == 3 + byte_count + 2, "byte count disagrees with the frame length"
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def exchange_id(exchange: Exchange) -> str:
    return exchange.where.split(":")[0].removesuffix(".toml") + ":" + exchange.name


def test_every_source_file_is_cited_and_holds_frames() -> None:
    assert [source.path.name for source in SOURCES] == ["tasmota-xnrg-10-sdm630.toml"]
    assert all(source.citation.url.startswith("https://") for source in SOURCES)
    assert len(REPLIES) == 1


@pytest.mark.parametrize("exchange", REPLIES, ids=exchange_id)
def test_published_crc_verified_by_hand(exchange: Exchange) -> None:
    assert exchange.reply is not None
    assert crc_is_right(exchange.reply.wire), f"wrong CRC in {exchange.where}"


@pytest.mark.parametrize("exchange", REPLIES, ids=exchange_id)
def test_published_reply_decodes_to_the_stated_value_and_encodes_back(exchange: Exchange) -> None:
    assert exchange.reply is not None
    raw = exchange.reply.wire
    assert (raw[0], raw[1]) == (exchange.integer("device_id"), exchange.integer("function"))
    registers = registers_of_reply(raw)
    assert registers == exchange.integers("registers")
    value = unpack_raw(registers, ValueType.FLOAT32, WordOrder.HIGH_FIRST)
    assert value == pytest.approx(exchange.number("value"), abs=1e-4)
    assert pack_raw(value, ValueType.FLOAT32, WordOrder.HIGH_FIRST) == registers


def test_the_hand_crc_matches_the_modbus_check_value() -> None:
    """The catalogued check value of CRC-16/MODBUS over "123456789" is 0x4B37."""
    assert crc16_modbus(b"123456789") == 0x4B37
