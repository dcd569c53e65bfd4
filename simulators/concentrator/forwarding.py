"""The RS-485 port behind a simulated concentrator: where AFN 10 F1 forwarded frames go.

A real concentrator that receives a transparent-forwarding request puts the DL/T 645 frame on
its meter port and relays whatever comes back (nothing, when no meter answers before its frame
timeout: the forwarded length is then 0). The meters here are the simulator's own DL/T 645
meters (``simulators.dlt645``), fed by the community model, so a forwarded read answers the
same ground truth as the meter's bus gateway; sharing the meter objects with that gateway keeps
one state per meter (a relay tripped through the concentrator reads open on the bus too).

A meter whose pn the store marks ``unreachable`` does not answer (the concentrator cannot reach
it: a broken RS-485 pair, a meter without power), which is the master's timeout case.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from protocols.dlt645 import FrameDecoder, MalformedFrame
from protocols.dlt645.frame import MAX_DATA_LENGTH
from simulators.concentrator.store import FrozenStore
from simulators.dlt645.bus import MeterBus
from simulators.dlt645.meter import SimulatedMeter
from simulators.dlt645.wire import Burst, merge_collisions, shape_reply
from transports import SerialSettings

log = logging.getLogger(__name__)

PORT_SETTINGS = SerialSettings("concentrator-rs485", baud=2400)
"""The meter port's line (2400 8E1, what the concentrator's archive records say)."""


@dataclass(slots=True)
class PortCounters:
    frames: int = 0
    """Forwarded DL/T 645 frames put on the port."""
    answered: int = 0
    unanswered: int = 0
    """Frames no meter answered (a broadcast, an unreachable or absent meter, a fault)."""
    malformed: int = 0
    """Forwarded bytes that held no valid DL/T 645 frame."""


class MeterPort:
    """``port(frame_bytes) -> reply bytes | None``: the ``forward_to`` of a concentrator.

    ``meters`` are the DL/T 645 meters on the port; ``store`` says which pn are unreachable
    (its ``meters`` map pn to address); ``clock`` is the simulated now the meters answer at.
    """

    def __init__(
        self,
        meters: Iterable[SimulatedMeter],
        store: FrozenStore,
        clock: Callable[[], datetime],
        *,
        seed: int = 0,
        name: str = "concentrator",
    ) -> None:
        self.meters = tuple(meters)
        self.store = store
        self.clock = clock
        self.counters = PortCounters()
        self._rng = random.Random(f"{seed}:{name}:forwarding")

    def _unreachable(self) -> set[str]:
        """Addresses of the meters the store cannot reach now (asked each frame: faults move)."""
        meters = self.store.meters
        return {meters[point].address for point in self.store.unreachable if point in meters}

    def __call__(self, data: bytes) -> bytes | None:
        decoder = FrameDecoder(max_data_length=MAX_DATA_LENGTH)
        decoder.feed(data)
        try:
            frame = decoder.next_frame()
        except MalformedFrame as exc:
            frame = None
            log.info("concentrator port: forwarded bytes %s: %s", data.hex(" "), exc)
        if frame is None:
            self.counters.malformed += 1
            return None
        self.counters.frames += 1
        now = self.clock()
        cut_off = self._unreachable()
        bursts = []
        for meter in self.meters:
            if meter.config.address in cut_off:
                continue
            if meter.baud is not None and meter.baud != PORT_SETTINGS.baud:
                continue  # it was told another baud: noise to it
            reply = meter.handle(frame, now)
            if reply is None:
                continue
            shaped, extra = shape_reply(
                reply, meter.active_faults(now), meter.config.preamble, self._rng
            )
            bursts.append(Burst(meter.config.reply_delay + extra, shaped, (meter.meter_id,)))
        if not bursts:
            self.counters.unanswered += 1
            return None
        self.counters.answered += 1
        # Several answers (a wildcard read) overlap on the half-duplex line: the port hears
        # the garbled mix, as the master would from a bus of its own.
        return b"".join(burst.data for burst in merge_collisions(bursts, PORT_SETTINGS))


def port_for(
    store: FrozenStore,
    buses: Iterable[MeterBus],
    clock: Callable[[], datetime],
    *,
    seed: int = 0,
    name: str = "concentrator",
) -> MeterPort:
    """The port of a concentrator whose store lists its meters: the same meter objects the
    scenario's bus gateways serve (a meter on no bus is not on the port either)."""
    by_id = {meter.meter_id: meter for bus in buses for meter in bus.meters}
    meters = [by_id[m.meter_id] for m in store.meters.values() if m.meter_id in by_id]
    return MeterPort(meters, store, clock, seed=seed, name=name)
