"""Many simulated meters on one RS-485 line: every meter hears every frame.

The bus paces bytes at the configured baud in both directions: a request is complete when
its last character has crossed the line, each addressed meter answers after its reply delay,
and replies are released to the link at the pace a UART would deliver them (ptys and sockets
would otherwise hand them over instantly). Overlapping replies collide. ``feed`` is the
sans-IO core (bytes + arrival time in, bursts out); ``serve`` runs it on a link.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from protocols.dlt645 import Address, Frame, FrameDecoder, MalformedFrame
from protocols.dlt645.frame import MAX_DATA_LENGTH
from simulators.dlt645.errors import SimulatorConfigError
from simulators.dlt645.faults import NO_FAULTS, FaultPlan, GatewayDisconnect, active, first
from simulators.dlt645.links import ByteLink
from simulators.dlt645.meter import SimulatedMeter
from simulators.dlt645.wire import Burst, merge_collisions, shape_reply
from transports import SerialSettings, wire_time

log = logging.getLogger(__name__)

PACING_TICK = 0.01
"""Release reply bytes in slices of about this many seconds of line time."""

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MeterBus:
    """One bus: its meters, line settings, simulated clock, bus faults and seeded randomness."""

    def __init__(
        self,
        meters: Iterable[SimulatedMeter],
        settings: SerialSettings,
        *,
        clock: Clock = _utc_now,
        faults: FaultPlan = NO_FAULTS,
        seed: int = 0,
        name: str = "bus",
    ) -> None:
        self.meters = tuple(meters)
        self.settings = settings
        self.clock = clock
        self.faults = faults
        self.name = name
        self.frames_received = 0
        self.malformed_received = 0
        self._rng = random.Random(f"{seed}:{name}")
        self._decoder = FrameDecoder(max_data_length=MAX_DATA_LENGTH)
        self._line_in_free = 0.0
        ids = [m.meter_id for m in self.meters]
        addresses = [m.config.address for m in self.meters]
        for label, values in (("meter id", ids), ("address", addresses)):
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise SimulatorConfigError(f"bus {name}: {label} {twice} used more than once")
        now = clock()
        for meter in self.meters:
            meter.start(now)

    def meter(self, key: str) -> SimulatedMeter:
        """A meter by id or original address."""
        for meter in self.meters:
            if key in (meter.meter_id, meter.config.address):
                return meter
        raise KeyError(f"bus {self.name}: no meter {key!r}")

    def gateway_down(self) -> bool:
        """Whether a gateway_disconnect fault is active on this bus now."""
        return first(active(self.faults.for_bus(), self.clock()), GatewayDisconnect) is not None

    # ------------------------------------------------------------------ sans-IO core

    def reset_line(self) -> None:
        """Forget partial input (a new client connected)."""
        self._decoder.clear()
        self._line_in_free = 0.0

    def feed(self, chunk: bytes, arrived_at: float) -> list[Burst]:
        """Bytes from the master, handed over at loop time ``arrived_at``: the replies due.

        The chunk occupies the line after whatever was still arriving, so a frame ends
        ``wire_time`` after its bytes were written, not when the socket delivered them.
        """
        self._line_in_free = max(self._line_in_free, arrived_at) + wire_time(
            len(chunk), self.settings
        )
        self._decoder.feed(chunk)
        bursts: list[Burst] = []
        while True:
            try:
                frame = self._decoder.next_frame()
            except MalformedFrame as exc:
                self.malformed_received += 1
                log.debug("bus %s: ignoring %s", self.name, exc)
                continue
            if frame is None:
                return merge_collisions(bursts, self.settings)
            self.frames_received += 1
            bursts.extend(self.on_frame(frame, self._line_in_free))

    def on_frame(self, frame: Frame, frame_end: float) -> list[Burst]:
        """Every meter's answer to one frame whose last byte crossed the line at ``frame_end``."""
        now = self.clock()
        bursts = []
        for meter in self.meters:
            if meter.baud is not None and meter.baud != self.settings.baud:
                continue  # it hears noise at the wrong baud
            reply = meter.handle(frame, now)
            if reply is None:
                continue
            faults = meter.active_faults(now)
            data, extra = shape_reply(reply, faults, meter.config.preamble, self._rng)
            start = frame_end + meter.config.reply_delay + extra
            bursts.append(Burst(start, data, (meter.meter_id,)))
        return merge_collisions(bursts, self.settings)

    def addresses(self) -> tuple[Address, ...]:
        """Addresses the meters answer to now."""
        now = self.clock()
        return tuple(m.address_at(now) for m in self.meters)

    # ------------------------------------------------------------------ IO

    async def serve(self, link: ByteLink) -> None:
        """Answer the master on ``link`` until it goes away."""
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[Burst] = asyncio.Queue()
        self.reset_line()
        async with asyncio.TaskGroup() as group:
            sender = group.create_task(self._send_bursts(link, outbox))
            try:
                while chunk := await link.read():
                    for burst in self.feed(chunk, loop.time()):
                        outbox.put_nowait(burst)
            finally:
                sender.cancel()

    async def _send_bursts(self, link: ByteLink, outbox: asyncio.Queue[Burst]) -> None:
        loop = asyncio.get_running_loop()
        char = self.settings.char_time
        slice_size = max(1, math.floor(PACING_TICK / char))
        while True:
            burst = await outbox.get()
            data = burst.data
            for offset in range(0, len(data), slice_size):
                piece = data[offset : offset + slice_size]
                due = burst.start + (offset + len(piece)) * char
                await asyncio.sleep(max(0.0, due - loop.time()))
                await link.write(piece)
            if burst.collided:
                log.debug("bus %s: replies of %s collided", self.name, burst.senders)
