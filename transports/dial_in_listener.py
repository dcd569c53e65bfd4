"""One TCP listener for every DTU that dials in: registration, then the bus is the worker's.

A connection must send a known registration packet within ``registration_timeout``; an
unknown one is refused (closed), counted, and logged once per distinct packet, since a
misconfigured DTU redials every few seconds. A registered connection is handed to its
``DialInTransport``; a second connection of the same DTU replaces the first. A DTU that sends
nothing (not even a heartbeat) for ``idle_timeout`` is hung up on, because a cellular link dies
without a FIN. Nothing a peer sends can raise out of here: the worst is a closed connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from transports.dial_in import DialInTransport, FilteredProtocol
from transports.errors import OpenFailed
from transports.settings import DialInSettings

log = logging.getLogger(__name__)

MAX_UNKNOWN_LOGGED = 1000
"""Distinct unknown registrations remembered for logging once (a scanner must not grow it)."""


@dataclass(slots=True)
class ListenerCounters:
    connections: int = 0
    registered: int = 0
    unknown: int = 0
    """Connections refused for a registration packet no channel has."""
    registration_timeouts: int = 0
    replaced: int = 0
    idle_timeouts: int = 0


class _Pending(asyncio.Protocol):
    """A connection before registration: collects bytes until they name a DTU."""

    def __init__(self, listener: DialInListener) -> None:
        self._listener = listener
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.dtu: DialInTransport | None = None
        self.registered = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._listener.counters.connections += 1

    def data_received(self, data: bytes) -> None:
        if self.dtu is not None or self.transport is None or self.transport.is_closing():
            return
        self._buffer += data
        outcome = self._listener.identify(bytes(self._buffer))
        if outcome is None:
            return  # still a prefix of some registration packet
        if isinstance(outcome, str):
            self._listener.refuse(outcome, bytes(self._buffer), self.transport)
            return
        dtu, rest = outcome
        self.dtu = dtu
        self._listener.register(dtu, self.transport, rest)
        self.registered.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.registered.set()


class DialInListener:
    def __init__(
        self,
        host: str,
        port: int,
        dtus: Iterable[DialInTransport],
        *,
        registration_timeout: float = 10.0,
        idle_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.dtus = {dtu.registration: dtu for dtu in dtus}
        self.registration_timeout = registration_timeout
        self.idle_timeout = idle_timeout
        self.counters = ListenerCounters()
        self._unknown_logged: set[bytes] = set()
        self._longest = max((len(r) for r in self.dtus), default=0)
        self._server: asyncio.Server | None = None
        self.ready = asyncio.Event()

    def transport(self, registration: bytes) -> DialInTransport:
        return self.dtus[registration]

    def transport_for(self, settings: DialInSettings) -> DialInTransport:
        """The one transport of the DTU ``settings`` name, made on first use (the bus worker
        of its channel asks for it; a fleet change that rebuilds the worker gets the same one).
        A second channel with the same registration but another heartbeat is refused."""
        dtu = self.dtus.get(settings.registration)
        if dtu is None:
            dtu = DialInTransport(
                settings.describe().removeprefix("dial-in "),
                settings.registration,
                settings.heartbeat,
            )
            self.dtus[settings.registration] = dtu
            self._longest = max(self._longest, len(settings.registration))
        elif dtu.heartbeat != settings.heartbeat:
            raise OpenFailed(
                f"{settings.describe()}: already configured with heartbeat {dtu.heartbeat!r}"
            )
        return dtu

    def identify(self, data: bytes) -> str | tuple[DialInTransport, bytes] | None:
        """What the first bytes of a connection are: a DTU (with the bytes after its packet),
        a reason to refuse, or None while they may still become a registration."""
        for registration, dtu in self.dtus.items():
            if data.startswith(registration):
                return dtu, data[len(registration) :]
        if any(r.startswith(data) for r in self.dtus):
            return None
        return "unknown registration"

    def refuse(self, reason: str, data: bytes, transport: asyncio.Transport) -> None:
        self.counters.unknown += 1
        packet = data[: max(self._longest, 16)]
        if packet not in self._unknown_logged and len(self._unknown_logged) < MAX_UNKNOWN_LOGGED:
            self._unknown_logged.add(packet)
            log.warning(
                "dial-in %s: %s %r (%s): connection refused",
                _peer(transport),
                reason,
                packet,
                packet.hex(" "),
            )
        transport.close()

    def register(self, dtu: DialInTransport, transport: asyncio.Transport, rest: bytes) -> None:
        protocol = dtu.new_protocol()
        protocol.transport = transport
        transport.set_protocol(protocol)
        self.counters.registered += 1
        if dtu.attach(protocol, rest):
            self.counters.replaced += 1
            log.warning(
                "dial-in %s: a new connection from %s replaces the old one",
                dtu.name,
                _peer(transport),
            )
        else:
            log.info("dial-in %s: registered from %s", dtu.name, _peer(transport))
        if self.idle_timeout is not None:
            asyncio.get_running_loop().call_later(
                self.idle_timeout, self._check_idle, dtu, protocol
            )

    def _check_idle(self, dtu: DialInTransport, protocol: FilteredProtocol) -> None:
        if protocol.inbound.is_lost or protocol.transport is None or self.idle_timeout is None:
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - protocol.seen
        if quiet >= self.idle_timeout:
            self.counters.idle_timeouts += 1
            log.warning("dial-in %s: silent for %.0f s: hanging up", dtu.name, quiet)
            protocol.inbound.mark_lost(f"silent for {quiet:.0f} s (no heartbeat)")
            dtu.detach(protocol)
            protocol.transport.close()
            return
        loop.call_later(self.idle_timeout - quiet, self._check_idle, dtu, protocol)

    def _accepted(self) -> _Pending:
        pending = _Pending(self)
        asyncio.get_running_loop().call_later(
            self.registration_timeout, self._registration_deadline, pending
        )
        return pending

    def _registration_deadline(self, pending: _Pending) -> None:
        transport = pending.transport
        if pending.dtu is None and transport is not None and not transport.is_closing():
            self.counters.registration_timeouts += 1
            log.info(
                "dial-in %s: no registration within %g s: closed",
                _peer(transport),
                self.registration_timeout,
            )
            transport.close()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accepted, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.ready.set()
        log.info("dial-in listener on %s:%d for %d DTUs", self.host, self.port, len(self.dtus))

    async def run(self) -> None:
        """Serve until cancelled; then close the listener and every DTU connection."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await asyncio.Future()
        finally:
            self._server.close()
            for dtu in self.dtus.values():
                await dtu.aclose()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
