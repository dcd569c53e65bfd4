"""Terminal telemetry over a real mosquitto: the head-end's ingest vs a bare aiomqtt subscriber.

Three receivers take the same messages from the same broker: (a) a bare aiomqtt subscriber that
only counts them (the baseline), (b) the head-end's ``MqttBridge`` alone, its readings handed to
a handler that takes them at once, and (c) the whole engine (bridge, unit gate, anomaly ingest,
record writer, embedded SQLite store; a message is acknowledged once its readings are on disk).
All three hold the persistent QoS 1 session the bridge uses (MQTT 5, clean start off).

Each block creates the three sessions, then one publisher sends the block's messages (QoS 1,
the terminal payload of ``simulators.terminal`` with 15 points, one transformer terminal each
of 50, a new timestamp per round so nothing is a duplicate) while nobody is connected: the
broker queues them for all three. Then each receiver in turn connects and drains its queue
alone, so the publisher's speed and the other receivers do not enter the figure. Messages/s of
(b) and (c) are printed as ratios to (a) of the same block; spread = lowest and highest block.
Two more blocks run (b) and (c) under cProfile (the store thread included) and print their top
functions (a thread's wait for work, ``SimpleQueue.get``, is idle time, not cost).

    .venv/bin/python bench/bench_mqtt_ingest.py                 # 3 blocks of 1,000 (make bench)
    .venv/bin/python bench/bench_mqtt_ingest.py 20000 5         # messages per block, blocks
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the project root is one level up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from headend.config.fleet import FleetConfig, parse_fleet_config
from headend.engine import Engine, EngineOptions
from headend.mqtt.bridge import MqttBridge
from headend.mqtt.terminal_payload import parse_terminal_payload
from simulators.community.values import TransformerValues
from simulators.terminal.config import TerminalConfig
from simulators.terminal.payload import encode_values
from storage.embedded import SqliteStore
from storage.records import Reading
from tests.support.mosquitto import MosquittoBroker

TERMINALS = 50
TOPIC_FILTER = "terminal/+/telemetry"
SESSION_EXPIRY = 3600
GOAL = 0.8
"""Messages/s of the bridge, and of the whole engine, over the bare subscriber's."""
TOP = 15
WINDOW = 200
QUIET = logging.getLogger("bench.publisher")
QUIET.setLevel(logging.ERROR)  # aiomqtt warns at every publish beyond its 10th pending one
START = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
BROKER_CONFIG = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
log_dest stderr
log_type error
log_type warning
"""
"""As the test broker, but queueing every message for an offline session (the default keeps
1,000): the whole block waits for each receiver."""


def messages(count: int) -> list[tuple[str, bytes]]:
    """``count`` telemetry messages, round-robin over the terminals, one minute per round."""
    terminal = TerminalConfig()
    out = []
    for index in range(count):
        transformer = f"TTU_{index % TERMINALS:03d}"
        values = TransformerValues(
            transformer_id=transformer,
            timestamp=START + timedelta(minutes=index // TERMINALS),
            rated_kva=630.0,
            voltage_a=231.2 + index % 7 * 0.1,
            voltage_b=229.8,
            voltage_c=230.5,
            current_a=120.5,
            current_b=118.0,
            current_c=121.3,
            power_active_total=80.2,
            power_reactive_total=20.1,
            power_apparent_total=82.7,
            power_factor_total=0.97,
            frequency=50.0,
            load_rate=13.1,
            oil_temperature=41.5,
            winding_temperature=55.0,
            energy_active_import_total=100_000.0 + index,
        )
        topic = terminal.topic(terminal.telemetry_topic, transformer)
        out.append((topic, encode_values(terminal, values, token=f"t{index}")))
    return out


def fleet(broker: MosquittoBroker, client_id: str) -> FleetConfig:
    return parse_fleet_config(
        {
            "site": {"name": "bench", "timezone": "Asia/Shanghai"},
            "transformers": [
                {"name": f"T{t:03d}", "rated_kva": 630, "terminal": f"TTU_{t:03d}"}
                for t in range(TERMINALS)
            ],
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "client_id": client_id,
                "ingest_topics": [TOPIC_FILTER],
                "session_expiry": f"{SESSION_EXPIRY}s",
            },
        },
        "bench",
    )


def _client(broker: MosquittoBroker, identifier: str) -> aiomqtt.Client:
    """The session the bridge keeps: MQTT 5, clean start off, a session expiry."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
    )


async def open_session(broker: MosquittoBroker, identifier: str) -> None:
    """Subscribe and leave: the broker queues what comes until ``identifier`` connects again."""
    async with _client(broker, identifier) as client:
        await client.subscribe(TOPIC_FILTER, qos=1)


async def publish(broker: MosquittoBroker, batch: list[tuple[str, bytes]]) -> None:
    client = aiomqtt.Client(broker.host, broker.port, identifier="bench-publisher", logger=QUIET)
    async with client:
        for start in range(0, len(batch), WINDOW):  # publishes in flight at once
            await asyncio.gather(
                *(client.publish(t, p, qos=1) for t, p in batch[start : start + WINDOW])
            )


async def bare(broker: MosquittoBroker, identifier: str, count: int) -> float:
    """(a) Seconds for a plain aiomqtt subscriber to take ``count`` queued messages."""
    started = time.perf_counter()
    received = 0
    async with _client(broker, identifier) as client:
        await client.subscribe(TOPIC_FILTER, qos=1)
        async for message in client.messages:
            if isinstance(message.payload, bytes):
                received += 1
            if received == count:
                break
    return time.perf_counter() - started


async def bridge_alone(broker: MosquittoBroker, identifier: str, readings: int) -> float:
    """(b) Seconds for the bridge to take ``readings`` from its queued messages."""
    config = fleet(broker, identifier)
    assert config.mqtt is not None

    done = asyncio.Event()
    taken = [0]

    async def take(batch: list[Reading]) -> None:
        taken[0] += len(batch)
        if taken[0] >= readings:
            done.set()

    bridge = MqttBridge(
        config.mqtt,
        transformer_of_device={
            t.terminal: t.name for t in config.transformers.values() if t.terminal
        },
        on_readings=take,
    )
    started = time.perf_counter()
    runner = asyncio.create_task(bridge.run())
    await done.wait()
    elapsed = time.perf_counter() - started
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    return elapsed


async def whole_engine(
    broker: MosquittoBroker, identifier: str, readings: int, scratch: Path
) -> float:
    """(c) Seconds for the engine to take ``readings`` (stored before each acknowledgement)."""
    store = await SqliteStore.open(scratch / f"{identifier}.sqlite")
    engine = Engine(
        fleet(broker, identifier),
        store,
        options=EngineOptions(maintenance=False, audit_path=scratch / f"{identifier}.audit"),
    )
    live = engine.live.subscribe(maxsize=readings + 1)  # readings come live once stored: none lost
    started = time.perf_counter()
    runner = asyncio.create_task(engine.run())
    for _ in range(readings):
        await live.get()
    elapsed = time.perf_counter() - started
    engine.stop()
    await runner
    await store.aclose()
    return elapsed


def readings_per_block(broker: MosquittoBroker, batch: list[tuple[str, bytes]]) -> int:
    config = fleet(broker, "count")
    assert config.mqtt is not None
    devices = {t.terminal: t.name for t in config.transformers.values() if t.terminal}
    return sum(
        len(parse_terminal_payload(topic, payload, config.mqtt.points, devices).readings)
        for topic, payload in batch
    )


async def block(
    broker: MosquittoBroker, batch: list[tuple[str, bytes]], expected: int, tag: str, scratch: Path
) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (this process; the broker is another) of (a), (b), (c)."""
    names = (f"bare-{tag}", f"bridge-{tag}", f"engine-{tag}")
    for name in names:
        await open_session(broker, name)
    await publish(broker, batch)
    receivers: list[Callable[[], Awaitable[float]]] = [
        partial(bare, broker, names[0], len(batch)),
        partial(bridge_alone, broker, names[1], expected),
        partial(whole_engine, broker, names[2], expected, scratch),
    ]
    walls, cpus = [], []
    for receive in receivers:
        cpu = time.process_time()
        walls.append(await receive())
        cpus.append(time.process_time() - cpu)
    return walls, cpus


async def profiled(
    broker: MosquittoBroker,
    batch: list[tuple[str, bytes]],
    receive: Callable[[str], Awaitable[float]],
    name: str,
) -> str:
    await open_session(broker, name)
    await publish(broker, batch)

    # The store commits on its own thread: profile every thread started meanwhile too.
    in_threads: list[cProfile.Profile] = []

    def profile_thread(*_: object) -> None:
        sys.setprofile(None)
        thread_profiler = cProfile.Profile()
        in_threads.append(thread_profiler)
        thread_profiler.enable()

    threading.setprofile(profile_thread)
    profiler = cProfile.Profile()
    profiler.enable()
    await receive(name)
    profiler.disable()
    threading.setprofile(None)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for thread_profiler in in_threads:
        thread_profiler.disable()
        stats.add(thread_profiler)
    stats.sort_stats("tottime").print_stats(TOP)
    lines = out.getvalue().splitlines()
    first = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(lines[first:]).rstrip()


async def main(count: int, blocks: int) -> None:
    batch = messages(count)
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as scratch:
        broker = MosquittoBroker(Path(scratch))
        broker.config.write_text(BROKER_CONFIG.format(port=broker.port))
        broker.start()
        try:
            expected = readings_per_block(broker, batch)
            print(
                f"{count} messages per block ({TERMINALS} terminals, {expected // count} "
                f"readings each, {sum(len(p) for _, p in batch) // count} bytes), {blocks} blocks"
            )
            ratios_bridge, ratios_engine = [], []
            totals = [0.0, 0.0, 0.0]
            cpu_totals = [0.0, 0.0, 0.0]
            for index in range(blocks):
                walls, cpus = await block(broker, batch, expected, str(index), Path(scratch))
                a, b, c = walls
                totals = [t + w for t, w in zip(totals, walls, strict=True)]
                cpu_totals = [t + w for t, w in zip(cpu_totals, cpus, strict=True)]
                ratios_bridge.append(a / b)
                ratios_engine.append(a / c)
                print(
                    f"block {index}: bare {count / a:8.0f} msg/s, bridge {count / b:8.0f} msg/s "
                    f"({a / b:.2f}), engine {count / c:8.0f} msg/s ({a / c:.2f})"
                )
            part = batch[: max(TERMINALS, count // 3)]
            wanted = expected * len(part) // count
            print(f"profile of (b) the bridge alone, {len(batch)} messages (top {TOP} by tottime):")
            receive = partial(bridge_alone, broker, readings=expected)
            print(await profiled(broker, batch, receive, "bridge-profiled"))
            print(
                f"profile of (c) the whole engine, {len(part)} messages, all threads "
                f"(top {TOP} by tottime):"
            )
            receive = partial(whole_engine, broker, readings=wanted, scratch=Path(scratch))
            print(await profiled(broker, part, receive, "engine-profiled"))
        finally:
            broker.stop()
    bridge_ratio = totals[0] / totals[1]
    engine_ratio = totals[0] / totals[2]
    rate = count * blocks
    print(
        f"bare {rate / totals[0]:.0f} msg/s, bridge {rate / totals[1]:.0f} msg/s, "
        f"engine {rate / totals[2]:.0f} msg/s"
    )
    per = [cpu / rate * 1e6 for cpu in cpu_totals]
    busy = [cpu / wall for cpu, wall in zip(cpu_totals, totals, strict=True)]
    print(
        f"CPU per message (head-end process): bare {per[0]:.0f} us, bridge {per[1]:.0f} us, "
        f"engine {per[2]:.0f} us; CPU busy {busy[0]:.0%} / {busy[1]:.0%} / {busy[2]:.0%}"
    )
    print(
        f"mqtt_ingest_bridge: {bridge_ratio:.2f} ({min(ratios_bridge):.2f}-"
        f"{max(ratios_bridge):.2f}) goal >= {GOAL} {'PASS' if bridge_ratio >= GOAL else 'FAIL'}"
    )
    print(
        f"mqtt_ingest_engine: {engine_ratio:.2f} ({min(ratios_engine):.2f}-"
        f"{max(ratios_engine):.2f}) goal >= {GOAL} {'PASS' if engine_ratio >= GOAL else 'FAIL'}"
    )


def _arguments(argv: list[str]) -> tuple[int, int]:
    count = int(argv[0]) if argv else 1000
    blocks = int(argv[1]) if len(argv) > 1 else 3
    return count, blocks


if __name__ == "__main__":
    asyncio.run(main(*_arguments(sys.argv[1:])))
