"""The bus behind a serial pseudo-terminal: the head-end opens ``path`` like a USB adapter.

The simulator holds the master fd. Ptys ignore baud and reject even parity, so the head-end
opens the slave with parity N and the bus paces bytes itself at its configured baud. We keep
our own slave fd open so the master never sees EIO between head-end sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from types import TracebackType

from simulators.dlt645.bus import MeterBus
from simulators.dlt645.links import FdLink


class PtyPort:
    """``async with PtyPort(bus) as port:`` then open ``port.path`` from the head-end."""

    def __init__(self, bus: MeterBus) -> None:
        self.bus = bus
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: a plain byte pipe
        self.path = os.ttyname(self._slave)
        self._link = FdLink(self._master)
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Serve until closed (for callers that run it inside their own TaskGroup)."""
        await self.bus.serve(self._link)

    async def __aenter__(self) -> PtyPort:
        self._task = asyncio.create_task(self.run(), name=f"pty {self.path}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._link.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1
