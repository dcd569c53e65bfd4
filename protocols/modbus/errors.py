"""The Modbus codec's errors, under one sub-root of ``ProtocolError`` (tree: protocols/errors.py).

Everything here is sans-IO, so every error is about data: a register map file that does not
validate, a request for a quantity the map does not have, or registers that cannot be decoded.
"""

from __future__ import annotations

from protocols.errors import ProtocolError


class ModbusProtocolError(ProtocolError):
    """Root of every error raised by :mod:`protocols.modbus`."""


class RegisterMapError(ModbusProtocolError):
    """A register map file is malformed; the message names the file, the point and the key."""


class UnknownQuantityError(ModbusProtocolError):
    """A caller asked a map for a quantity it does not define."""


class RegisterDecodeError(ModbusProtocolError):
    """The registers handed to a decoder do not fit the plan (our bug, not the meter's)."""


class RegisterEncodeError(ModbusProtocolError):
    """A value cannot be represented in a point's register type (simulator side)."""
