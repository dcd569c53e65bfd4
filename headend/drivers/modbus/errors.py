"""The one exception root of the Modbus adapter, split between our fault and the peer's.

Every error carries the :class:`~storage.records.FailureReason` a failed reading should get,
so callers turn exceptions into MISSING readings without a mapping table of their own.
"""

from __future__ import annotations

from typing import ClassVar

from headend.errors import HeadendError
from storage.records import FailureReason


class ModbusAdapterError(HeadendError):
    """Root of every error raised by :mod:`headend.drivers.modbus`."""

    reason: ClassVar[FailureReason] = FailureReason.MALFORMED


class ModbusUsageError(ModbusAdapterError):
    """We broke it: a request the protocol does not allow (count, address, unit id) or an
    adapter used before it was opened. Retrying does not help."""

    reason = FailureReason.UNSUPPORTED


class ModbusPeerError(ModbusAdapterError):
    """The peer (meter, gateway, link) did: no reply, an exception reply, a dropped link."""


class ModbusTimeoutError(ModbusPeerError):
    """No reply within the timeout (dead meter, wrong unit id behind a gateway, bus noise)."""

    reason = FailureReason.TIMEOUT


class ModbusConnectionError(ModbusPeerError):
    """The TCP connection or serial port could not be opened or was lost."""

    reason = FailureReason.CONNECTION_LOST


class ModbusMalformedResponseError(ModbusPeerError):
    """A reply that does not answer the request (wrong unit, wrong length)."""

    reason = FailureReason.MALFORMED


class ModbusExceptionResponseError(ModbusPeerError):
    """The meter answered with a Modbus exception (e.g. 0x02 illegal data address)."""

    reason = FailureReason.ERROR_RESPONSE

    def __init__(self, unit_id: int, function_code: int, exception_code: int) -> None:
        self.unit_id = unit_id
        self.function_code = function_code
        self.exception_code = exception_code
        name = EXCEPTION_NAMES.get(exception_code, "unknown")
        super().__init__(
            f"unit {unit_id} answered function {function_code:#04x} with exception "
            f"{exception_code:#04x} ({name})"
        )


EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x08: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}
"""Modbus application protocol v1.1b3, section 7."""
