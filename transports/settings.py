"""Typed, validated transport settings: what a transport URL means once parsed.

Settings are frozen dataclasses that validate themselves, so a bad value is caught whether it
came from a URL, a TOML file or code, and the error names the setting and the bad value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from transports.errors import InvalidTransportUrl

MAX_BAUD = 4_000_000
"""Above any RS-485 adapter we support; a larger number is a typo, not a fast line."""


class Parity(enum.StrEnum):
    """Serial parity, spelled as pyserial spells it (``serial.PARITY_EVEN == "E"``)."""

    NONE = "N"
    EVEN = "E"
    ODD = "O"
    MARK = "M"
    SPACE = "S"

    @property
    def bits(self) -> int:
        """Parity bits per character on the wire."""
        return 0 if self is Parity.NONE else 1


class Framing(enum.StrEnum):
    """What the bytes through a TCP gateway are; the transport ignores it, the caller does not.

    A transparent gateway passes serial bytes through unchanged, so ``rtu+tcp://`` uses the same
    byte transport as ``tcp://``: the scheme only tells the bus worker to speak Modbus RTU
    frames (with CRC) instead of expecting the gateway to speak Modbus TCP.
    """

    TRANSPARENT = "transparent"
    """Raw bytes of the serial protocol configured for the bus (e.g. DL/T 645)."""
    MODBUS_RTU = "modbus-rtu"
    """Modbus RTU frames tunnelled through a transparent gateway."""


VALID_BYTESIZES = (5, 6, 7, 8)
VALID_STOPBITS = (1.0, 1.5, 2.0)


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """One serial port. Flow control is always off: RS-485 buses have no handshake lines."""

    port: str
    baud: int = 2400
    parity: Parity = Parity.EVEN
    bytesize: int = 8
    stopbits: float = 1.0

    def __post_init__(self) -> None:
        where = f"serial port {self.port!r}"
        if not self.port:
            raise InvalidTransportUrl("serial settings: port must not be empty")
        if not 0 < self.baud <= MAX_BAUD:
            raise InvalidTransportUrl(f"{where}: baud {self.baud} is outside 1..{MAX_BAUD}")
        if not isinstance(self.parity, Parity):
            raise InvalidTransportUrl(f"{where}: parity {self.parity!r} is not a Parity")
        if self.bytesize not in VALID_BYTESIZES:
            raise InvalidTransportUrl(
                f"{where}: bytesize {self.bytesize} is not one of {VALID_BYTESIZES}"
            )
        if self.stopbits not in VALID_STOPBITS:
            raise InvalidTransportUrl(f"{where}: stopbits {self.stopbits} is not one of 1, 1.5, 2")

    @property
    def bits_per_char(self) -> float:
        """Start bit + data bits + parity bit + stop bits: 11 for 8E1, 10 for 8N1."""
        return 1 + self.bytesize + self.parity.bits + self.stopbits

    @property
    def char_time(self) -> float:
        """Seconds one character occupies on the wire (Modbus RTU gaps are multiples of it)."""
        return self.bits_per_char / self.baud

    @property
    def frame_format(self) -> str:
        """The usual short notation, e.g. ``8E1``."""
        stop = f"{self.stopbits:g}"
        return f"{self.bytesize}{self.parity.value}{stop}"

    def describe(self) -> str:
        return f"serial {self.port} {self.baud} {self.frame_format}"


DEFAULT_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class TcpSettings:
    """A transparent TCP gateway (DTU, serial server) in front of a bus.

    Keepalive catches gateways that vanish without a FIN (cellular DTUs do): after
    ``keepalive_idle`` quiet seconds the kernel probes every ``keepalive_interval`` seconds and
    gives up after ``keepalive_count`` misses, which surfaces as ``ConnectionLost``.
    """

    host: str
    port: int
    framing: Framing = Framing.TRANSPARENT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive_idle: int = 30
    keepalive_interval: int = 10
    keepalive_count: int = 3

    def __post_init__(self) -> None:
        where = f"tcp {self.host}:{self.port}"
        if not self.host:
            raise InvalidTransportUrl(f"{where}: host must not be empty")
        if not 0 < self.port < 65536:
            raise InvalidTransportUrl(f"{where}: port {self.port} is outside 1..65535")
        if not self.connect_timeout > 0:
            raise InvalidTransportUrl(
                f"{where}: connect_timeout {self.connect_timeout} must be positive"
            )
        for name in ("keepalive_idle", "keepalive_interval", "keepalive_count"):
            if getattr(self, name) < 1:
                raise InvalidTransportUrl(f"{where}: {name} must be at least 1")

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "rtu+tcp" if self.framing is Framing.MODBUS_RTU else "tcp"
        return f"{scheme} {host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MemorySettings:
    """An in-memory link registered under ``name`` in a ``MemoryNetwork`` (tests, simulators)."""

    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidTransportUrl("memory settings: name must not be empty")

    def describe(self) -> str:
        return f"memory {self.name}"


@dataclass(frozen=True, slots=True)
class DialInSettings:
    """A DTU that dials in to the head-end's listener and names itself with ``registration``.

    ``heartbeat`` is the packet it sends while idle. Neither may contain 0x16, the DL/T 645
    frame end (``transports.packet_filter`` says why), and the heartbeat must not start with
    the registration, or the filter could not tell them apart.
    """

    registration: bytes
    heartbeat: bytes | None = None

    def __post_init__(self) -> None:
        where = f"dial-in {self.registration!r}"
        if not self.registration:
            raise InvalidTransportUrl("dial-in settings: the registration packet is empty")
        for name, packet in (("registration", self.registration), ("heartbeat", self.heartbeat)):
            if packet is not None and 0x16 in packet:
                raise InvalidTransportUrl(
                    f"{where}: the {name} packet contains 0x16, the DL/T 645 frame end byte"
                )
        if self.heartbeat is not None and (
            self.heartbeat.startswith(self.registration)
            or self.registration.startswith(self.heartbeat)
        ):
            raise InvalidTransportUrl(
                f"{where}: the heartbeat {self.heartbeat!r} and the registration packet must "
                "not start with one another"
            )

    def describe(self) -> str:
        return f"dial-in {self.registration.decode('ascii', 'backslashreplace')}"


TransportSettings = SerialSettings | TcpSettings | MemorySettings | DialInSettings
