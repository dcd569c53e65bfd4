"""The single adapter around pymodbus: the only module that imports a pymodbus client.

pymodbus 3.x changes its API between minor releases (``slave=`` became ``device_id=``, exception
types moved), so the rest of the head-end talks to this class and to typed errors only. The
adapter does not retry and does not reconnect by itself: the bus worker owns retries, backoff and
reconnects, and pymodbus' own are switched off so that there is one policy, not two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from headend.drivers.modbus.errors import (
    ModbusAdapterError,
    ModbusConnectionError,
    ModbusExceptionResponseError,
    ModbusMalformedResponseError,
    ModbusPeerError,
    ModbusTimeoutError,
    ModbusUsageError,
)
from headend.drivers.modbus.outcome import PlanOutcome, RequestFailure
from headend.drivers.modbus.targets import ModbusTarget, RtuOverTcpTarget, SerialTarget, TcpTarget
from protocols.modbus import (
    MAX_READ_REGISTERS,
    NO_RATIOS,
    PointResult,
    Ratios,
    ReadPlan,
    ReadRequest,
    RegisterMap,
    Table,
    plan_ratio_read,
    ratios_from_results,
)

log = logging.getLogger(__name__)

_ReadCall = Callable[..., Awaitable[ModbusPDU]]


class ModbusAdapter:
    """One Modbus link (a TCP connection, a gateway socket or a serial port), one request at a
    time. Use as ``async with ModbusAdapter(target) as link: await link.read_points(...)``."""

    def __init__(self, target: ModbusTarget, *, timeout: float = 1.0) -> None:
        if not timeout > 0:
            raise ModbusUsageError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.target = target
        self.timeout = timeout
        self._client = _make_client(target, timeout)
        self._was_connected = False

    @property
    def connected(self) -> bool:
        """True while the underlying socket or port is open."""
        return bool(self._client.connected)

    async def open(self) -> None:
        """Connect; raises :class:`ModbusConnectionError` if the peer cannot be reached."""
        try:
            ok = await self._client.connect()
        except (OSError, ModbusException) as exc:
            raise ModbusConnectionError(f"cannot connect to {self.target}: {exc}") from exc
        if not ok:
            raise ModbusConnectionError(f"cannot connect to {self.target}")
        if not self._was_connected:
            log.info("modbus link %s connected", self.target)
        self._was_connected = True

    async def close(self) -> None:
        """Close the link; safe to call twice."""
        self._client.close()
        if self._was_connected:
            log.info("modbus link %s closed", self.target)
        self._was_connected = False

    async def __aenter__(self) -> ModbusAdapter:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def read_registers(
        self, unit_id: int, table: Table, address: int, count: int
    ) -> list[int]:
        """Read ``count`` registers; every failure is a :class:`ModbusAdapterError`."""
        self._check_request(unit_id, address, count)
        call: _ReadCall = (
            self._client.read_holding_registers
            if table is Table.HOLDING
            else self._client.read_input_registers
        )
        response = await self._execute(call, unit_id, address, count)
        if isinstance(response, ExceptionResponse) or response.isError():
            raise ModbusExceptionResponseError(
                unit_id, table.function_code, int(response.exception_code)
            )
        registers = list(response.registers)
        if len(registers) != count:
            raise ModbusMalformedResponseError(
                f"unit {unit_id}: asked {count} {table} register(s) at {address:#06x}, "
                f"got {len(registers)}"
            )
        return registers

    async def read_request(self, unit_id: int, request: ReadRequest) -> list[int]:
        """Registers for one planned request."""
        return await self.read_registers(unit_id, request.table, request.address, request.count)

    async def read_points(
        self,
        unit_id: int,
        plan: ReadPlan,
        ratios: Ratios = NO_RATIOS,
        *,
        missing_on_peer_error: bool = False,
    ) -> dict[str, PointResult]:
        """Run a read plan and decode it.

        By default the first error is raised. With ``missing_on_peer_error`` a request the peer
        fails (timeout, exception reply) yields missing results with the error's reason for its
        points and the other requests still run; our own errors are always raised.
        """
        results: dict[str, PointResult] = {}
        for request in plan.requests:
            try:
                registers = await self.read_request(unit_id, request)
            except ModbusUsageError:
                raise
            except ModbusAdapterError as exc:
                if not missing_on_peer_error:
                    raise
                results.update(request.failed(exc.reason))
                continue
            results.update(request.decode(registers, ratios))
        return results

    async def read_plan(
        self, unit_id: int, plan: ReadPlan, ratios: Ratios = NO_RATIOS
    ) -> PlanOutcome:
        """Run every request of ``plan``; a request the peer fails becomes missing results
        with the error's reason for its points, kept in ``failures``, and the others still
        run. Our own errors (``ModbusUsageError``) are raised: retrying cannot help them."""
        results: dict[str, PointResult] = {}
        failures: list[RequestFailure] = []
        for request in plan.requests:
            try:
                registers = await self.read_request(unit_id, request)
            except ModbusPeerError as exc:
                failures.append(RequestFailure(request, exc))
                results.update(request.failed(exc.reason))
                continue
            results.update(request.decode(registers, ratios))
        return PlanOutcome(results, tuple(failures), len(plan.requests))

    async def read_ratios(self, unit_id: int, register_map: RegisterMap) -> Ratios:
        """CT/PT ratios read from the meter, for maps that publish them (else 1 and 1)."""
        plan = plan_ratio_read(register_map)
        if plan is None:
            return Ratios()
        return ratios_from_results(register_map, await self.read_points(unit_id, plan))

    def _check_request(self, unit_id: int, address: int, count: int) -> None:
        highest_unit = 255 if isinstance(self.target, TcpTarget) else 247
        if not 1 <= unit_id <= highest_unit:
            raise ModbusUsageError(f"unit id {unit_id} is outside 1..{highest_unit}")
        if not 1 <= count <= MAX_READ_REGISTERS:
            raise ModbusUsageError(f"register count {count} is outside 1..{MAX_READ_REGISTERS}")
        if not address >= 0 or address + count > 0x10000:
            raise ModbusUsageError(f"registers {address}..{address + count - 1} exceed 0..65535")

    async def _execute(self, call: _ReadCall, unit_id: int, address: int, count: int) -> ModbusPDU:
        if not self.connected:
            raise ModbusConnectionError(f"link {self.target} is not connected")
        try:
            # pymodbus applies self.timeout itself; this is a backstop should it ever hang.
            async with asyncio.timeout(self.timeout * 2 + 1):
                return await call(address, count=count, device_id=unit_id)
        except ConnectionException as exc:
            self._note_lost()
            raise ModbusConnectionError(f"link {self.target}: {exc}") from exc
        except (ModbusIOException, TimeoutError) as exc:
            if not self.connected:
                self._note_lost()
                raise ModbusConnectionError(f"link {self.target} lost during request") from exc
            if isinstance(exc, ModbusIOException) and "No response" not in str(exc):
                raise ModbusMalformedResponseError(f"unit {unit_id}: {exc}") from exc
            raise ModbusTimeoutError(
                f"unit {unit_id}: no reply within {self.timeout} s to a read of {count} "
                f"register(s) at {address:#06x}"
            ) from exc
        except ModbusException as exc:
            raise ModbusMalformedResponseError(f"unit {unit_id}: {exc}") from exc

    def _note_lost(self) -> None:
        if self._was_connected:
            log.warning("modbus link %s lost", self.target)
        self._was_connected = False


def _make_client(
    target: ModbusTarget, timeout: float
) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
    # retries=0 and reconnect_delay=0: the bus worker owns both policies.
    if isinstance(target, TcpTarget | RtuOverTcpTarget):
        # The same socket client; a transparent gateway carries RTU frames (with CRC) instead.
        return AsyncModbusTcpClient(
            target.host,
            port=target.port,
            framer=FramerType.SOCKET if isinstance(target, TcpTarget) else FramerType.RTU,
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
        )
    if isinstance(target, SerialTarget):
        return AsyncModbusSerialClient(
            target.port,
            framer=FramerType.RTU,
            baudrate=target.baudrate,
            parity=target.parity,
            bytesize=target.bytesize,
            stopbits=target.stopbits,
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
        )
    raise ModbusUsageError(f"unsupported Modbus target {target!r}")
