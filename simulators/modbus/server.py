"""A Modbus server serving simulated meters, several unit ids on one port.

Framing is Modbus TCP, or RTU over TCP to stand in for a transparent RS-485 gateway.
Built on pymodbus' SimDevice/SimData (3.16) rather than the datastore classes that warn of
removal in v4.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from types import TracebackType

from pymodbus import FramerType
from pymodbus.server import ModbusTcpServer

from simulators.errors import SimulatorError
from simulators.modbus.devices import SimulatedMeter, catch_all_device, meter_device

log = logging.getLogger(__name__)


class SimulatorFraming(enum.StrEnum):
    """How frames travel over the simulator's TCP socket."""

    TCP = "tcp"
    RTU_OVER_TCP = "rtu_over_tcp"


class ModbusSimulatorError(SimulatorError):
    """The simulator could not be configured or started."""


class ModbusMeterSimulator:
    """Serve ``meters`` (by unit id) on ``host:port`` until :meth:`stop`.

    Unknown unit ids get exception 0x0B (gateway target failed to respond). ``meters`` stays
    live: change a meter's values, ratios or ``exception_code`` at any time.
    """

    def __init__(
        self,
        meters: Mapping[int, SimulatedMeter],
        *,
        port: int,
        host: str = "127.0.0.1",
        framing: SimulatorFraming = SimulatorFraming.TCP,
    ) -> None:
        if not meters:
            raise ModbusSimulatorError("simulator needs at least one meter")
        for unit_id in meters:
            if not 1 <= unit_id <= 247:
                raise ModbusSimulatorError(f"unit id {unit_id} is outside 1..247")
        self.meters = meters
        self.host = host
        self.port = port
        self.framing = framing
        self._server: ModbusTcpServer | None = None

    async def start(self) -> None:
        """Listen; returns once the port accepts connections."""
        if self._server is not None:
            raise ModbusSimulatorError("simulator already started")
        devices = [meter_device(unit_id, meter) for unit_id, meter in self.meters.items()]
        devices.append(catch_all_device(meter.register_map for meter in self.meters.values()))
        framer = FramerType.SOCKET if self.framing is SimulatorFraming.TCP else FramerType.RTU
        server = ModbusTcpServer(devices, framer=framer, address=(self.host, self.port))
        try:
            await server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            raise ModbusSimulatorError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._server = server
        log.info(
            "modbus simulator (%s) on %s:%d, units %s",
            self.framing,
            self.host,
            self.port,
            sorted(self.meters),
        )

    async def stop(self) -> None:
        """Stop listening and drop client connections; safe to call twice."""
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    async def __aenter__(self) -> ModbusMeterSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
