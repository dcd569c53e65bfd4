"""Transport URLs -> typed settings.

One string per bus in the configuration file keeps the common cases short
(``serial:///dev/ttyUSB0``, ``tcp://10.0.0.5:8899``) while every error names the URL and the
part that is wrong, so a typo in a 500-bus site file is found at load, not at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, unquote_to_bytes, urlsplit

from transports.errors import InvalidTransportUrl
from transports.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DialInSettings,
    Framing,
    MemorySettings,
    Parity,
    SerialSettings,
    TcpSettings,
    TransportSettings,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SerialDefaults:
    """Line settings a protocol starts with when the URL does not say otherwise."""

    baud: int
    parity: Parity
    bytesize: int = 8
    stopbits: float = 1.0


SERIAL_DEFAULTS: Mapping[str, SerialDefaults] = {
    # DL/T 645-2007: 2400 bps, 8 data bits, even parity, 1 stop bit.
    "dlt645-2007": SerialDefaults(baud=2400, parity=Parity.EVEN),
    # DL/T 645-1997 meters default to 1200 bps, same character format.
    "dlt645-1997": SerialDefaults(baud=1200, parity=Parity.EVEN),
    # Modbus over Serial Line v1.02: 19200 bps and even parity are the required defaults.
    # Many meters ship with 9600 8N1 instead; say so in the URL.
    "modbus-rtu": SerialDefaults(baud=19200, parity=Parity.EVEN),
}
DEFAULT_PROTOCOL = "dlt645-2007"

_PARITY_WORDS: Mapping[str, Parity] = {
    "n": Parity.NONE,
    "none": Parity.NONE,
    "e": Parity.EVEN,
    "even": Parity.EVEN,
    "o": Parity.ODD,
    "odd": Parity.ODD,
    "m": Parity.MARK,
    "mark": Parity.MARK,
    "s": Parity.SPACE,
    "space": Parity.SPACE,
}
_SERIAL_KEYS = frozenset({"baud", "parity", "bytesize", "stopbits", "protocol"})
_TCP_KEYS = frozenset(
    {"connect_timeout", "keepalive_idle", "keepalive_interval", "keepalive_count"}
)
_TCP_SCHEMES: Mapping[str, Framing] = {
    "tcp": Framing.TRANSPARENT,
    "rtu+tcp": Framing.MODBUS_RTU,
}
SUPPORTED_SCHEMES = ("serial", "tcp", "rtu+tcp", "memory", "dialin")


def parse_transport_url(url: str, *, protocol: str | None = None) -> TransportSettings:
    """Parse a transport URL into validated settings.

    ``protocol`` (``dlt645-2007``, ``dlt645-1997``, ``modbus-rtu``) picks the serial defaults
    when the URL gives no line settings; a ``protocol=`` query parameter in the URL wins over it.
    Raises ``InvalidTransportUrl`` naming the URL and the bad part.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidTransportUrl(f"transport URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    query = _query(url, parts.query)
    if parts.fragment:
        raise _bad(url, f"unexpected fragment '#{parts.fragment}'")
    if scheme == "serial":
        port = unquote(parts.netloc + parts.path)
        if not port:
            raise _bad(url, "no serial port path (expected serial:///dev/ttyUSB0)")
        return _serial_settings(url, port, query, protocol)
    if scheme in _TCP_SCHEMES:
        return _tcp_settings(url, parts.hostname, _port(url, parts), parts.path, query, scheme)
    if scheme == "memory":
        if parts.path or query:
            raise _bad(url, "memory URLs take only a name (memory://name)")
        if not parts.netloc:
            raise _bad(url, "no link name (expected memory://name)")
        return MemorySettings(name=unquote(parts.netloc))
    if scheme == "dialin":
        return _dial_in_settings(url, parts)
    shown = scheme or "(none)"
    raise _bad(url, f"scheme {shown!r} is not one of {', '.join(SUPPORTED_SCHEMES)}")


def _dial_in_settings(url: str, parts: SplitResult) -> DialInSettings:
    """``dialin://REGISTRATION?heartbeat=PACKET``, both percent-encoded bytes (``%FE`` for a
    binary id), as the DTU's configuration tool shows them."""
    registration = unquote_to_bytes(parts.netloc + parts.path)
    if not registration:
        raise _bad(url, "no registration packet (expected dialin://DTU-ID)")
    heartbeat = None
    for pair in filter(None, parts.query.split("&")):  # raw: a packet may be any bytes
        key, _, value = pair.partition("=")
        if key != "heartbeat":
            raise _bad(url, f"unknown dialin parameter {key!r} (only heartbeat)")
        if heartbeat is not None:
            raise _bad(url, "query parameter 'heartbeat' is given twice")
        heartbeat = unquote_to_bytes(value) or None
    try:
        return DialInSettings(registration, heartbeat)
    except InvalidTransportUrl as exc:
        raise _bad(url, str(exc)) from None


def _bad(url: str, problem: str) -> InvalidTransportUrl:
    return InvalidTransportUrl(f"transport URL {url!r}: {problem}")


def _query(url: str, raw: str) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in query:
            raise _bad(url, f"query parameter {key!r} is given twice")
        query[key] = value
    return query


def _port(url: str, parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise _bad(url, f"bad port ({exc})") from exc
    if port is None:
        raise _bad(url, "no port (expected tcp://host:port)")
    if port == 0:
        raise _bad(url, f"port {port} is outside 1..65535")
    return port


def _converted(url: str, key: str, value: str, convert: Callable[[str], T], expected: str) -> T:
    try:
        return convert(value)
    except ValueError:
        raise _bad(url, f"{key}={value!r} is not {expected}") from None


def _parity(value: str) -> Parity:
    try:
        return _PARITY_WORDS[value.strip().lower()]
    except KeyError:
        raise ValueError(value) from None


def _stopbits(value: str) -> float:
    stopbits = float(value)
    if stopbits not in (1.0, 1.5, 2.0):
        raise ValueError(value)
    return stopbits


def _serial_settings(
    url: str, port: str, query: dict[str, str], protocol: str | None
) -> SerialSettings:
    unknown = sorted(set(query) - _SERIAL_KEYS)
    if unknown:
        raise _bad(url, f"unknown serial parameter(s) {', '.join(unknown)}")
    chosen = query.get("protocol", protocol or DEFAULT_PROTOCOL)
    defaults = SERIAL_DEFAULTS.get(chosen)
    if defaults is None:
        raise _bad(url, f"protocol {chosen!r} is not one of {', '.join(SERIAL_DEFAULTS)}")
    baud = defaults.baud
    parity = defaults.parity
    bytesize = defaults.bytesize
    stopbits = defaults.stopbits
    if "baud" in query:
        baud = _converted(url, "baud", query["baud"], int, "a whole number of bits per second")
    if "parity" in query:
        parity = _converted(url, "parity", query["parity"], _parity, "one of N, E, O, M, S")
    if "bytesize" in query:
        bytesize = _converted(url, "bytesize", query["bytesize"], int, "one of 5, 6, 7, 8")
    if "stopbits" in query:
        stopbits = _converted(url, "stopbits", query["stopbits"], _stopbits, "1, 1.5 or 2")
    try:
        return SerialSettings(
            port=port, baud=baud, parity=parity, bytesize=bytesize, stopbits=stopbits
        )
    except InvalidTransportUrl as exc:
        raise _bad(url, str(exc)) from None


def _tcp_settings(
    url: str,
    host: str | None,
    port: int,
    path: str,
    query: dict[str, str],
    scheme: str,
) -> TcpSettings:
    if not host:
        raise _bad(url, "no host (expected tcp://host:port)")
    if path not in ("", "/"):
        raise _bad(url, f"unexpected path {path!r} (a gateway URL is scheme://host:port)")
    unknown = sorted(set(query) - _TCP_KEYS)
    if unknown:
        raise _bad(url, f"unknown tcp parameter(s) {', '.join(unknown)}")
    connect_timeout = DEFAULT_CONNECT_TIMEOUT
    if "connect_timeout" in query:
        connect_timeout = _converted(
            url, "connect_timeout", query["connect_timeout"], float, "a number of seconds"
        )
    defaults = TcpSettings(host=host, port=port)
    idle, interval, count = (
        _converted(url, key, query[key], int, "a whole number") if key in query else fallback
        for key, fallback in (
            ("keepalive_idle", defaults.keepalive_idle),
            ("keepalive_interval", defaults.keepalive_interval),
            ("keepalive_count", defaults.keepalive_count),
        )
    )
    try:
        return TcpSettings(
            host=host,
            port=port,
            framing=_TCP_SCHEMES[scheme],
            connect_timeout=connect_timeout,
            keepalive_idle=idle,
            keepalive_interval=interval,
            keepalive_count=count,
        )
    except InvalidTransportUrl as exc:
        raise _bad(url, str(exc)) from None
