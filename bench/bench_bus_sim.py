"""Measured reads/s through the simulated DL/T 645 bus vs the line's theoretical ceiling.

The ceiling per read is request wire time + reply delay + reply wire time at the bus's baud;
the ratio (measured / ceiling) shows how much the simulator's pacing and asyncio add. Both
numbers come from the same run, so the ratio means the same on any machine.

    .venv/bin/python bench/bench_bus_sim.py [reads] [baud]
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time

from protocols.dlt645 import (
    Address,
    FrameDecoder,
    ReadRequest,
    catalogue,
    encode,
)
from simulators.dlt645 import (
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from transports import SerialSettings, memory_pair, wire_time

REPLY_DELAY = 0.02
BLOCKS = 5
"""The reads are timed in this many blocks; the spread is the lowest and highest block ratio."""
GOAL = 0.95
"""Reads/s through the simulated bus as a share of the wire-time limit."""


async def main(reads: int, baud: int) -> None:
    settings = SerialSettings("bench", baud=baud)
    address = Address.parse("000000000001")
    config = SimulatedMeterConfig(
        address.digits, StaticSource({"voltage_a": 230.0}), reply_delay=REPLY_DELAY
    )
    bus = MeterBus([SimulatedMeter(config)], settings)
    request = encode(ReadRequest(address, catalogue().by_name("voltage_a").di).to_frame())
    [burst] = bus.on_frame(ReadRequest(address, catalogue().by_name("voltage_a").di).to_frame(), 0)
    ceiling = wire_time(len(request), settings) + REPLY_DELAY + burst.duration(settings)
    master, device = memory_pair("bench")
    async with asyncio.TaskGroup() as group:
        serving = group.create_task(bus.serve(TransportLink(device)))
        decoder = FrameDecoder()
        started = time.perf_counter()
        marks = [started]
        for index in range(reads):
            await master.write(request)
            while decoder.next_frame() is None:
                decoder.feed(await master.read(4096))
            if (index + 1) % max(1, reads // BLOCKS) == 0:
                marks.append(time.perf_counter())
        elapsed = time.perf_counter() - started
        await master.aclose()
        await serving
    measured = reads / elapsed
    theoretical = 1 / ceiling
    print(f"baud {baud} 8E1, reply delay {REPLY_DELAY * 1000:.0f} ms, {reads} reads")
    print(f"measured    {measured:8.2f} reads/s")
    print(f"theoretical {theoretical:8.2f} reads/s (wire time + reply delay)")
    print(f"ratio       {measured / theoretical:8.3f}")
    block = max(1, reads // BLOCKS)
    blocks = [block / (end - begin) / theoretical for begin, end in itertools.pairwise(marks)]
    ratio = measured / theoretical
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    print(
        f"bus_sim_wire: {ratio:.3f} ({min(blocks):.3f}-{max(blocks):.3f}) goal >= {GOAL} {verdict}"
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 2400
    asyncio.run(main(count, rate))
