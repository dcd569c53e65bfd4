"""A 4G DTU that dials out to the head-end: registration packet, heartbeats, then the bus.

A real DTU behind a carrier's NAT cannot be dialled; it calls the head-end's dial-in listener,
sends its registration packet (its id or IMEI) and then relays the RS-485 bus transparently,
sending its heartbeat packet every ``heartbeat_period`` whatever else is on the link (the
head-end must strip it wherever it lands). After a drop it calls again ``reconnect_delay``
later; while a ``gateway_disconnect`` fault is active it hangs up and does not call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from simulators.dlt645.bus import MeterBus
from simulators.dlt645.tcp_gateway import FaultAwareLink

log = logging.getLogger(__name__)


class DialOutGateway:
    def __init__(
        self,
        bus: MeterBus,
        host: str,
        port: int,
        registration: bytes,
        heartbeat: bytes | None,
        *,
        heartbeat_period: float = 30.0,
        reconnect_delay: float = 1.0,
    ) -> None:
        self.bus = bus
        self.host = host
        self.port = port
        self.registration = registration
        self.heartbeat = heartbeat
        self.heartbeat_period = heartbeat_period
        self.reconnect_delay = reconnect_delay
        self.connections = 0
        self.heartbeats_sent = 0
        self._link: FaultAwareLink | None = None

    async def run(self) -> None:
        """Call, serve, call again, until cancelled."""
        while True:
            if not self.bus.gateway_down():
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError as exc:
                    log.info(
                        "DTU %r: cannot reach %s:%d: %s",
                        self.registration,
                        self.host,
                        self.port,
                        exc,
                    )
                else:
                    await self._serve(FaultAwareLink(reader, writer, self.bus))
            await asyncio.sleep(self.reconnect_delay)  # a real DTU's redial interval

    async def drop(self) -> None:
        """Fault: lose the cellular link now (it calls again)."""
        if self._link is not None:
            await self._link.aclose()

    async def _serve(self, link: FaultAwareLink) -> None:
        self.connections += 1
        self._link = link
        await link.write(self.registration)
        beats = asyncio.create_task(self._beat(link))
        try:
            await self.bus.serve(link)
        finally:
            beats.cancel()
            self._link = None
            with contextlib.suppress(Exception):
                await link.aclose()

    async def _beat(self, link: FaultAwareLink) -> None:
        if self.heartbeat is None:
            return
        while True:
            await asyncio.sleep(self.heartbeat_period)  # the DTU's own period
            await link.write(self.heartbeat)
            self.heartbeats_sent += 1
