"""Bus seconds per meter of a daily collection round: the single-item fallback plan (a meter
that refuses block reads) against the block plan, for a bus of 60 meters at 2400 baud.

Both rounds run the head-end's own reader (``read_dlt645``) against the real simulated bus
(60 three-phase meters, reply delays spread over 20..200 ms as the standard allows 20..500
ms), once with meters that answer blocks and once with meters that refuse them
(``simulators.dlt645.behaviours.RefusesBlocks``). The refusing meters are read once first so
the reader learns the refusal, as a head-end does in its first round after start (or reads
from ``block-reads.json``); that learning round is reported on its own. The bus is driven at a
fast line so the bench takes seconds, and each exchange's 2400-baud bus time is then taken
from the frames that actually crossed it: request and reply wire time (8E1, 11 bits a byte),
the meter's reply delay (accounted, not waited: the simulated meters answer at once) and the
inter-frame gap. Both figures come from the same run.

The round is what a utility reads daily from a three-phase meter: every member of the
catalogue's instantaneous and energy blocks (energy total + 4 tariffs, 3 voltages, 3
currents, total + 3 phase powers): 15 quantities, 4 block exchanges or 15 single ones.

Goal: the fallback costs no more than its extra exchanges: ratio <= 15/4 = 3.75 (once the
refusal is learned no refused block is asked again, no retry, no timeout).

    .venv/bin/python bench/bench_block_fallback.py [meters]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from headend.bus.link import DEFAULT_INTER_FRAME_GAP, BusLink, Direction
from headend.config.fleet import MeterConfig
from headend.drivers.block_support import BlockSupportBook
from headend.drivers.dlt645.reader import plan_dlt645, read_dlt645
from protocols.dlt645 import Standard
from simulators.dlt645 import (
    MeterBus,
    RefusesBlocks,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from simulators.dlt645.faults import FaultScript
from transports import Parity, SerialSettings, memory_pair, wire_time

LINE = SerialSettings("bench", baud=2400, parity=Parity.EVEN)
FAST = SerialSettings("bench-fast", baud=921600, parity=Parity.NONE)
SLOT = datetime(2026, 7, 16, 2, 0, tzinfo=UTC)
QUANTITIES = (
    "energy_active_import_total",
    *(f"energy_active_import_t{tariff}" for tariff in range(1, 5)),
    *(f"voltage_{phase}" for phase in "abc"),
    *(f"current_{phase}" for phase in "abc"),
    "power_active_total",
    *(f"power_active_{phase}" for phase in "abc"),
)
"""A daily round's 15 quantities (docs/dlt645.md): a four-tariff meter's energy, the phase
voltages and currents, and the active powers; each block covers several of them."""
VALUES = dict.fromkeys(QUANTITIES, 12.5)
GOAL = len(plan_dlt645(QUANTITIES, Standard.DLT645_2007, use_blocks=False)) / len(
    plan_dlt645(QUANTITIES, Standard.DLT645_2007)
)


def reply_delay(index: int, meters: int) -> float:
    return 0.02 + 0.18 * index / max(1, meters - 1)


def bus_seconds(link: BusLink, delay: float) -> float:
    """The 2400-baud line time of the exchanges in ``link.traffic``."""
    seconds = 0.0
    for record in link.traffic:
        seconds += wire_time(len(record.data), LINE)
        if record.direction is Direction.TX:
            seconds += delay + DEFAULT_INTER_FRAME_GAP
    return seconds


async def round_seconds(meters: int, *, refuse: bool) -> tuple[list[float], list[float]]:
    """(learning round, measured round) bus seconds per meter."""
    quirks = FaultScript([ScheduledFault(RefusesBlocks())] if refuse else [])
    configs = [
        SimulatedMeterConfig(f"{index + 1:012d}", StaticSource(VALUES), reply_delay=0.0)
        for index in range(meters)
    ]
    bus = MeterBus([SimulatedMeter(c, quirks) for c in configs], FAST, clock=lambda: SLOT)
    book = BlockSupportBook()
    master, device = memory_pair("bench")
    rounds: list[list[float]] = []
    async with asyncio.TaskGroup() as group:
        serving = group.create_task(bus.serve(TransportLink(device)))
        link = BusLink(master, gap=0, history=4096)
        for _ in range(2):
            per_meter = []
            for index, config in enumerate(configs):
                meter = MeterConfig(
                    id=config.meter_id,
                    channel="bench",
                    protocol="dlt645-2007",
                    plan="-",
                    address=config.address,
                )
                link.forget_traffic()
                readings = await read_dlt645(
                    link, meter, QUANTITIES, SLOT, reply_timeout=0.5, support=book
                )
                missing = [r for r in readings if r.value is None]
                assert not missing, missing
                per_meter.append(bus_seconds(link, reply_delay(index, meters)))
            rounds.append(per_meter)
        await master.aclose()
        await serving
    return rounds[0], rounds[1]


async def main(meters: int) -> None:
    _, block = await round_seconds(meters, refuse=False)
    learning, fallback = await round_seconds(meters, refuse=True)
    per_meter = [f / b for f, b in zip(fallback, block, strict=True)]
    ratio = sum(fallback) / sum(block)
    print(f"{meters} meters at {LINE.baud} baud 8E1, {len(QUANTITIES)} quantities a meter")
    print(f"block plan     {sum(block) / meters:6.2f} bus s/meter, {sum(block):7.1f} s/round")
    print(f"fallback plan  {sum(fallback) / meters:6.2f} bus s/meter, {sum(fallback):7.1f} s/round")
    print(f"learning round {sum(learning) / meters:6.2f} bus s/meter (once: refused blocks asked)")
    verdict = "PASS" if ratio <= GOAL else "FAIL"
    print(
        f"block_fallback_cost: {ratio:.2f} ({min(per_meter):.2f}-{max(per_meter):.2f}) "
        f"goal <= {GOAL:.2f} {verdict}"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 60))
