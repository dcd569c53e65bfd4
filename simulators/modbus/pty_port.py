"""Simulated Modbus RTU meters behind a serial pseudo-terminal, like a USB RS-485 adapter.

pymodbus' serial server does the RTU framing and answers like the TCP simulator (same
devices, same register encoding), but it must open a port by name, as the head-end does: two
ptys, one opened by each side, with the simulator copying bytes between their master ends.
Unit ids nobody configured get no answer at all, as on a real RS-485 bus (a gateway would
send exception 0x0B; a bus is silent). Bytes are not paced at the baud rate (the DL/T 645
pty bus does that); replies come as fast as pymodbus writes them. Both slave ends stay open
here so that neither master sees EIO while a side has its port closed (between head-end
sessions, or before pymodbus opens). Ptys ignore baud and reject even parity: open ``path``
with parity N.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Mapping
from types import TracebackType

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer

from simulators.modbus.devices import SimulatedMeter, meter_device
from simulators.modbus.server import ModbusSimulatorError

log = logging.getLogger(__name__)

_CHUNK = 4096


class _Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing: a plain byte pipe
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class ModbusPtyPort:
    """``async with ModbusPtyPort(meters) as port:`` then open ``port.path`` (RTU, 8N1).

    ``meters`` stays live, as with ``ModbusMeterSimulator``: change a meter's values, ratios
    or ``exception_code`` at any time.
    """

    def __init__(self, meters: Mapping[int, SimulatedMeter], *, baud: int = 9600) -> None:
        if not meters:
            raise ModbusSimulatorError("a Modbus bus needs at least one meter")
        for unit_id in meters:
            if not 1 <= unit_id <= 247:
                raise ModbusSimulatorError(f"unit id {unit_id} is outside 1..247")
        self.meters = meters
        self.baud = baud
        self._outer = _Pty()
        """The head-end's side: ``path``."""
        self._inner = _Pty()
        """pymodbus' side."""
        self.path = self._outer.path
        self._server: ModbusSerialServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Serve; returns once pymodbus has the inner port open and the bridge runs."""
        if self._server is not None:
            raise ModbusSimulatorError("pty port already started")
        devices = [meter_device(unit_id, meter) for unit_id, meter in self.meters.items()]
        server = ModbusSerialServer(
            devices,
            framer=FramerType.RTU,
            port=self._inner.path,
            baudrate=self.baud,
            parity="N",
            reconnect_delay=0,
            trace_packet=self._drop_unknown_units,
        )
        try:
            await server.serve_forever(background=True)
        except (OSError, RuntimeError) as exc:
            raise ModbusSimulatorError(f"cannot serve on {self._inner.path}: {exc}") from exc
        self._server = server
        loop = asyncio.get_running_loop()
        self._loop = loop
        loop.add_reader(self._outer.master, self._copy, self._outer.master, self._inner.master)
        loop.add_reader(self._inner.master, self._copy, self._inner.master, self._outer.master)
        log.info("modbus RTU simulator on %s, units %s", self.path, sorted(self.meters))

    def _drop_unknown_units(self, sending: bool, packet: bytes) -> bytes:
        """Replies for units nobody configured are not sent: a bus stays silent.

        pymodbus' own ``ignore_missing_devices`` does not cover SimDevice contexts (3.16
        answers 0x04 there), so the finished RTU frame, unit id first, is dropped here."""
        if sending and packet and packet[0] not in self.meters:
            return b""
        return packet

    def _copy(self, source: int, target: int) -> None:
        try:
            data = os.read(source, _CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while nobody holds the other end; our own slave keeps it rare
        while data:
            try:
                written = os.write(target, data)
            except (BlockingIOError, OSError):
                return  # the other side's buffer is full or gone: a line drops bytes too
            data = data[written:]

    async def stop(self) -> None:
        """Stop serving and close both ptys; safe to call twice."""
        if self._loop is not None:
            for pty in (self._outer, self._inner):
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(pty.master)
            self._loop = None
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
        self._outer.close()
        self._inner.close()

    async def __aenter__(self) -> ModbusPtyPort:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
