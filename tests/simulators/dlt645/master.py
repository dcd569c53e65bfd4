"""A tiny DL/T 645 master built from the codec only: what the simulator is tested against."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from protocols.dlt645 import Frame, FrameDecoder, Response, encode, parse_response
from simulators.dlt645 import (
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from simulators.dlt645.faults import NO_FAULTS, FaultPlan
from transports import ByteTransport, Parity, SerialSettings, memory_pair

FAST = SerialSettings("sim", baud=115200, parity=Parity.NONE)
"""Fast line so tests stay quick; timing logic is the same at any baud."""
REPLY_DELAY = 0.002
START = datetime(2026, 3, 10, 4, 0, 0, tzinfo=UTC)
"""12:00 local (UTC+8): far from midnight, so dates do not shift under small offsets."""
LOCAL_START = (START + timedelta(hours=8)).replace(tzinfo=None)
"""START on the meters' clocks (naive local time, UTC+8)."""
REPLY_TIMEOUT = 2.0
VALUES = {
    "energy_active_import_total": 1234.56,
    "energy_active_import_t1": 600.5,
    "energy_active_import_t2": 634.06,
    "voltage_a": 230.1,
    "voltage_b": 229.9,
    "voltage_c": 231.2,
    "current_a": 5.123,
    "current_b": -1.5,
    "current_c": 0.25,
    "power_active_total": 2.5,
    "frequency": 50.01,
}


class SettableClock:
    """Simulated time a test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def meter(address: str, **options: object) -> SimulatedMeterConfig:
    options.setdefault("source", StaticSource(VALUES))
    options.setdefault("reply_delay", REPLY_DELAY)
    return SimulatedMeterConfig(address, **options)  # type: ignore[arg-type]


def make_bus(
    configs: Sequence[SimulatedMeterConfig],
    *,
    clock: Callable[[], datetime] | None = None,
    faults: FaultPlan = NO_FAULTS,
    seed: int = 0,
    settings: SerialSettings = FAST,
) -> MeterBus:
    return MeterBus(
        [SimulatedMeter(c, faults) for c in configs],
        settings,
        clock=clock or SettableClock(),
        faults=faults,
        seed=seed,
    )


class Master:
    """Sends frames and reads replies through any byte transport."""

    def __init__(self, transport: ByteTransport) -> None:
        self.transport = transport
        self.decoder = FrameDecoder()

    async def send(self, frame: Frame) -> None:
        await self.transport.write(encode(frame))

    async def frame(self) -> Frame:
        async with asyncio.timeout(REPLY_TIMEOUT):
            while True:
                found = self.decoder.next_frame()
                if found is not None:
                    return found
                self.decoder.feed(await self.transport.read(4096))

    async def ask(self, frame: Frame) -> Response:
        await self.send(frame)
        return parse_response(await self.frame())


@asynccontextmanager
async def serving(bus: MeterBus) -> AsyncIterator[Master]:
    """The bus served on an in-memory link for the duration of a block."""
    master_end, device_end = memory_pair("bus")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bus.serve(TransportLink(device_end)))
        try:
            yield Master(master_end)
        finally:
            await master_end.aclose()
            await task
