"""Adapter failures: each one typed, each one with the reason a failed reading gets."""

from __future__ import annotations

import pytest

from headend.drivers.modbus import (
    ModbusAdapter,
    ModbusConnectionError,
    ModbusPeerError,
    ModbusTimeoutError,
    ModbusUsageError,
    RtuOverTcpTarget,
    TcpTarget,
)
from protocols.modbus import Table, builtin_register_map, plan_all
from storage.records import FailureReason


async def test_silent_peer_times_out(silent_port: int) -> None:
    async with ModbusAdapter(TcpTarget("127.0.0.1", silent_port), timeout=0.2) as link:
        with pytest.raises(ModbusTimeoutError) as caught:
            await link.read_registers(1, Table.HOLDING, 0, 2)
        assert link.connected, "a timeout alone must not drop the link"
    assert caught.value.reason is FailureReason.TIMEOUT
    assert isinstance(caught.value, ModbusPeerError)


async def test_silent_peer_marks_every_point_missing_on_request(silent_port: int) -> None:
    register_map = builtin_register_map("eastron_sdm120")
    async with ModbusAdapter(TcpTarget("127.0.0.1", silent_port), timeout=0.2) as link:
        results = await link.read_points(1, plan_all(register_map), missing_on_peer_error=True)
    assert set(results) == set(register_map.quantities)
    assert {result.reason for result in results.values()} == {FailureReason.TIMEOUT}


async def test_peer_hanging_up_is_connection_lost(hang_up_port: int) -> None:
    async with ModbusAdapter(TcpTarget("127.0.0.1", hang_up_port), timeout=0.5) as link:
        with pytest.raises(ModbusConnectionError) as caught:
            await link.read_registers(1, Table.HOLDING, 0, 2)
        assert not link.connected
        with pytest.raises(ModbusConnectionError, match="not connected"):
            await link.read_registers(1, Table.HOLDING, 0, 2)
    assert caught.value.reason is FailureReason.CONNECTION_LOST


async def test_nobody_listening_is_connection_error(tcp_port: int) -> None:
    with pytest.raises(ModbusConnectionError, match="cannot connect"):
        async with ModbusAdapter(TcpTarget("127.0.0.1", tcp_port), timeout=0.5):
            pass


async def test_unopened_adapter_refuses_to_read(tcp_port: int) -> None:
    link = ModbusAdapter(TcpTarget("127.0.0.1", tcp_port))
    with pytest.raises(ModbusConnectionError, match="not connected"):
        await link.read_registers(1, Table.HOLDING, 0, 2)


@pytest.mark.parametrize(
    ("unit_id", "address", "count", "message"),
    [
        (1, 0, 126, "count 126"),
        (1, 0, 0, "count 0"),
        (0, 0, 2, "unit id 0"),
        (248, 0, 2, "unit id 248"),
        (1, 0xFFFF, 2, "exceed"),
    ],
)
async def test_requests_the_protocol_forbids_are_our_error(
    tcp_port: int, unit_id: int, address: int, count: int, message: str
) -> None:
    link = ModbusAdapter(RtuOverTcpTarget("127.0.0.1", tcp_port))
    with pytest.raises(ModbusUsageError, match=message) as caught:
        await link.read_registers(unit_id, Table.HOLDING, address, count)
    assert not isinstance(caught.value, ModbusPeerError)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ModbusUsageError, match="timeout"):
        ModbusAdapter(TcpTarget("127.0.0.1"), timeout=0)
