"""A head-end engine in its own process for the kill -9 test: simulated DL/T 645 meters on an
in-memory bus, real storage, and every reading printed as soon as a live consumer sees it.

Prints ``live <kind> <meter> <quantity> <timestamp ns>`` per reading received on a live subscription
(what SSE and the dashboard get). The writer interval is an hour, so a reading shown before it
is stored would be lost by the kill.
Run as ``python -m tests.storage.live_engine embedded|outbox PATH``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import TransportLink
from storage.embedded import SqliteStore
from storage.influx_v1 import InfluxV1Sink
from storage.line_protocol import timestamp_ns
from storage.outbox import Outbox
from storage.retry import RetryPolicy
from storage.sink import Sink
from tests.support.engine_rig import START, fast_bus, two_meter_fleet
from tests.support.ports import free_tcp_port
from transports.memory import MemoryNetwork


async def open_sink(kind: str, path: Path) -> Sink:
    if kind == "embedded":
        return await SqliteStore.open(path)
    # Nothing listens there: every reading stays in the outbox file.
    target = InfluxV1Sink(
        f"http://127.0.0.1:{free_tcp_port()}", database="db", retry=RetryPolicy(attempts=1)
    )
    return await Outbox.open(path, target)


async def main(kind: str, path: Path) -> None:
    clock = WarpedClock(START, speed=60)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, [])
    device_end = network.listen("bus-1")
    sink = await open_sink(kind, path)
    engine = Engine(
        parse_fleet_config(two_meter_fleet(), "test"),
        sink,
        clock=clock,
        memory=network,
        options=EngineOptions(jitter=0, maintenance=False, writer_interval=3600),
    )
    live = engine.live.subscribe()
    async with asyncio.TaskGroup() as group:
        group.create_task(bus.serve(TransportLink(device_end)))
        group.create_task(engine.run())
        while True:
            reading = await live.get()
            ns = timestamp_ns(reading.timestamp)
            print(f"live {reading.kind.value} {reading.meter} {reading.quantity} {ns}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
