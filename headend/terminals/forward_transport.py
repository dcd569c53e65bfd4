"""A DL/T 645 byte transport through a dial-in terminal: each frame written is one AFN 10 F1.

The DL/T 645 driver speaks to a ``ByteTransport`` (through ``headend.bus.link.BusLink``);
this one carries what the driver writes to a meter behind a concentrator by transparent
forwarding (Q/GDW 1376.1 AFN 10 F1) on the terminal's session, and hands the meter's reply
back as the bytes read. So every DL/T 645 read and control the driver can do on a bus works
through a concentrator, with the driver's own matching rules, follow-up frames and errors.

The request/reply round trip happens in ``write``: the terminal answers a forwarding request
only once the meter answered or its frame timeout passed, so when ``write`` returns the reply
is known. ``read`` then serves the reply's bytes; after an empty reply (no meter answered, the
standard's length 0) it raises a timeout naming the terminal and the meter at once instead of
letting the driver wait for bytes that cannot come. A broadcast (time sync) expects no reply
and never reads. A terminal that is not logged in fails the write at once (``TerminalOffline``).
One request in flight per terminal port is the caller's rule (one bus worker per port).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from headend.errors import ReadFailed
from headend.terminals.errors import TerminalOffline, TerminalRequestFailed
from headend.terminals.server import TerminalServer
from protocols.dlt645 import Address as MeterAddress
from protocols.dlt645 import FrameDecoder as MeterDecoder
from protocols.dlt645 import MalformedFrame as MeterFrameError
from protocols.gdw1376.forwarding import LineSettings, forward_values
from storage.records import FailureReason

FORWARD_AFN = 0x10
FORWARD_ITEM = 1
DEFAULT_PORT = 2
"""The concentrator's RS-485 meter port (what the archive records the master writes say)."""
DEFAULT_METER_TIMEOUT = 2.0
"""Seconds the terminal waits for the meter (the frame timeout it is sent; DL/T 645 meters
answer within 500 ms, the concentrator's own port adds some)."""


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    port: int = DEFAULT_PORT
    line: LineSettings = field(default_factory=LineSettings)
    meter_timeout: float = DEFAULT_METER_TIMEOUT
    reply_timeout: float = 10.0
    """Seconds the master waits for the terminal's reply; must exceed ``meter_timeout``."""


class ForwardingTransport:
    """DL/T 645 bytes to and from the meters on one port of terminal ``key`` (its name in
    messages: ``name``)."""

    def __init__(
        self,
        server: TerminalServer,
        key: str,
        *,
        name: str | None = None,
        settings: ForwardSettings | None = None,
    ) -> None:
        self.server = server
        self.key = key
        self.name = name or key
        self.settings = settings or ForwardSettings()
        self.forwarded = 0
        self.unanswered = 0
        self._open = False
        self._reply = bytearray()
        self._silent: MeterAddress | None = None
        """The meter of the last forwarded frame, when nobody answered it."""
        self._arrived = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._open

    def describe(self) -> str:
        label = self.name if self.name == self.key else f"{self.name} ({self.key})"
        return f"terminal {label} port {self.settings.port}"

    async def open(self) -> None:
        """Nothing to dial: the terminal's session is the connection, asked at each write."""
        self._open = True

    async def aclose(self) -> None:
        self._open = False
        self.discard_input()

    def discard_input(self) -> int:
        dropped = len(self._reply)
        self._reply.clear()
        self._silent = None
        self._arrived.clear()
        return dropped

    async def write(self, data: bytes) -> None:
        """Forward the DL/T 645 frame in ``data`` and keep the meter's reply for ``read``."""
        inner = data.lstrip(b"\xfe")
        address = _meter_address(inner, self.describe())
        settings = self.settings
        values = forward_values(
            settings.port, inner, line=settings.line, timeout_s=settings.meter_timeout
        )
        try:
            reply = await self.server.request(
                self.key,
                FORWARD_AFN,
                [(0, FORWARD_ITEM, values)],
                reply_timeout=settings.reply_timeout,
                retries=0,  # a repeat would put the order on the meter's line twice
            )
        except TerminalOffline as exc:
            raise TerminalOffline(
                self.key, f"{self._why(exc)}: meter {address} not reached ({self.describe()})"
            ) from None
        except TerminalRequestFailed as exc:
            raise TerminalRequestFailed(
                self.key, exc.reason, f"forwarding to meter {address}: {self._why(exc)}"
            ) from None
        self.forwarded += 1
        if reply.denied:
            raise TerminalRequestFailed(
                self.key,
                FailureReason.UNSUPPORTED,
                f"denied forwarding to meter {address} ({self.describe()}: AFN 00 F2)",
            )
        content = b""
        for unit in reply.units:
            if unit.item == FORWARD_ITEM:
                content = bytes(unit.values.get("frame", b""))
        if content:
            self._reply += content
            self._arrived.set()
        elif not address.is_broadcast:
            self.unanswered += 1
            self._silent = address
            self._arrived.set()

    def _why(self, exc: ReadFailed) -> str:
        return exc.detail.removeprefix(f"terminal {self.key}: ")

    async def read(self, max_bytes: int) -> bytes:
        """The reply's bytes; a timeout at once for a meter that did not answer; otherwise
        wait (the driver's deadline ends the wait: a reply that did not match is all there
        is)."""
        while not self._reply:
            if self._silent is not None:
                address, self._silent = self._silent, None
                raise ReadFailed(
                    FailureReason.TIMEOUT,
                    f"{self.describe()}: meter {address} did not answer the forwarded frame "
                    f"in {self.settings.meter_timeout:g} s",
                )
            self._arrived.clear()
            await self._arrived.wait()
        chunk = bytes(self._reply[:max_bytes])
        del self._reply[:max_bytes]
        return chunk


def _meter_address(data: bytes, where: str) -> MeterAddress:
    """The address of the DL/T 645 frame the driver wrote (our bytes: an error is our bug)."""
    decoder = MeterDecoder()
    decoder.feed(data)
    try:
        frame = decoder.next_frame()
    except MeterFrameError as exc:
        raise ReadFailed(FailureReason.MALFORMED, f"{where}: cannot forward: {exc}") from None
    if frame is None:
        raise ReadFailed(
            FailureReason.MALFORMED, f"{where}: no whole DL/T 645 frame to forward in {data.hex()}"
        )
    return frame.address
