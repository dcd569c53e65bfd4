"""Serial ports (RS-485 adapters) through pyserial and pyserial-asyncio-fast.

Flow control is forced off: RS-485 has no handshake lines, and a stray RTS/CTS or XON/XOFF
setting silently stalls a bus (XON/XOFF would even eat 0x11/0x13 bytes of binary frames).
"""

from __future__ import annotations

import asyncio
import logging

import serial
import serial_asyncio_fast

from transports.errors import OpenFailed
from transports.settings import SerialSettings
from transports.stream import StreamProtocol, StreamTransport

log = logging.getLogger(__name__)

try:
    import termios

    _TERMIOS_ERRORS: tuple[type[Exception], ...] = (termios.error,)
except ImportError:  # pragma: no cover - Windows has no termios
    _TERMIOS_ERRORS = ()

# pyserial reports most failures as SerialException, but a setting the driver refuses
# (e.g. even parity on a pty) escapes as termios.error, and bad values as ValueError.
_OPEN_ERRORS = (serial.SerialException, OSError, ValueError, *_TERMIOS_ERRORS)


class SerialTransport(StreamTransport):
    """One serial port configured from ``SerialSettings``."""

    def __init__(self, settings: SerialSettings) -> None:
        self.settings = settings
        super().__init__()

    def describe(self) -> str:
        return self.settings.describe()

    async def _connect(self, protocol: StreamProtocol) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        settings = self.settings
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop,
                lambda: protocol,
                settings.port,
                baudrate=settings.baud,
                parity=settings.parity.value,
                bytesize=settings.bytesize,
                stopbits=settings.stopbits,
                xonxoff=False,
                rtscts=False,
                dsrdtr=False,
                exclusive=True,
            )
        except _OPEN_ERRORS as exc:
            raise OpenFailed(f"{self.describe()}: cannot open port ({exc})") from exc
        result: asyncio.Transport = transport
        return result

    def discard_input(self) -> int:
        """Drop buffered bytes and also what the OS has received but we have not read yet."""
        dropped = super().discard_input()
        port = self._serial_instance()
        if port is not None:
            try:
                port.reset_input_buffer()
            except (serial.SerialException, OSError) as exc:
                log.debug("%s: reset_input_buffer failed (%s)", self.describe(), exc)
        return dropped

    def _serial_instance(self) -> serial.Serial | None:
        if self._transport is None:
            return None
        port: serial.Serial | None = self._transport.get_extra_info("serial")
        return port
