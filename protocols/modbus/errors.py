"""The Modbus codec's errors, under one sub-root of ``ProtocolError`` (tree: protocols/errors.py).

Everything here is sans-IO, so every error is about data: a register map file that does not
validate, a request for a quantity the map does not have, or registers that cannot be decoded.
"""

from __future__ import annotations

from protocols.errors import ProtocolError


class ModbusProtocolError(ProtocolError):
    """Root of every error raised by :mod:`protocols.modbus`."""


class RegisterMapError(ModbusProtocolError):
    """A register map file is malformed; the message names the file, the point and the key.

    ``source``, ``key`` (the key path, ``points[3].address``), ``quantity`` (of that point) and
    ``problem`` are there for a caller that reports them its own way, without parsing the text;
    an error about no one key of a file (an unknown built-in map) leaves them None.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        key: str | None = None,
        quantity: str | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.key = key
        self.quantity = quantity
        self.problem = problem or message

    @classmethod
    def at(
        cls, source: str, key: str, problem: str, *, quantity: str | None = None
    ) -> RegisterMapError:
        """``source: key (quantity): problem``."""
        where = key if quantity is None else f"{key} ({quantity})"
        return cls(
            f"{source}: {where}: {problem}",
            source=source,
            key=key,
            quantity=quantity,
            problem=problem,
        )


class UnknownQuantityError(ModbusProtocolError):
    """A caller asked a map for a quantity it does not define."""


class RegisterDecodeError(ModbusProtocolError):
    """The registers handed to a decoder do not fit the plan (our bug, not the meter's)."""


class RegisterEncodeError(ModbusProtocolError):
    """A value cannot be represented in a point's register type (simulator side)."""
