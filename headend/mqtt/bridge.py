"""The head-end's MQTT side: ingest terminal telemetry, publish readings and events, answer
on-demand requests — one broker connection that survives broker restarts.

Each connection subscribes afresh with a clean session, so a reconnect can never leave two
subscriptions delivering every message twice. Outgoing messages wait in a bounded queue while
the broker is away; live consumers want the newest values, and the durable copy of every
reading is the storage outbox's job, so the oldest live messages are dropped (and counted)
when the queue is full rather than growing without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from headend.backoff import Backoff
from headend.fleet_config import MqttConfig
from headend.mqtt.messages import reading_to_json
from headend.mqtt.terminal_payload import BadPayload, parse_terminal_payload
from headend.readings import Reading

log = logging.getLogger(__name__)

# aiomqtt warns on every publish while more than 10 are pending; that is our normal load.
logging.getLogger("aiomqtt").setLevel(logging.ERROR)
logging.getLogger("mqtt").setLevel(logging.ERROR)

ReadingHandler = Callable[[list[Reading]], Awaitable[None]]
RequestHandler = Callable[[Mapping[str, Any]], Awaitable[Mapping[str, Any]]]


@dataclass(slots=True)
class MqttStats:
    messages_in: int = 0
    readings_in: int = 0
    bad_payloads: int = 0
    skipped_items: int = 0
    published: int = 0
    dropped_outgoing: int = 0
    connections: int = 0
    requests: int = 0
    last_problem: str | None = None
    bad_by_topic: dict[str, int] = field(default_factory=dict)


class MqttBridge:
    def __init__(
        self,
        config: MqttConfig,
        *,
        transformer_of_device: Mapping[str, str],
        on_readings: ReadingHandler,
        on_request: RequestHandler | None = None,
        outgoing_limit: int = 10_000,
        reconnect: Backoff | None = None,
    ) -> None:
        self.config = config
        self.stats = MqttStats()
        self._devices = transformer_of_device
        self._on_readings = on_readings
        self._on_request = on_request
        self._outgoing: deque[tuple[str, bytes]] = deque(maxlen=outgoing_limit)
        self._outgoing_ready = asyncio.Event()
        self._reconnect = reconnect or Backoff(0.5, 30.0)
        self.connected = asyncio.Event()
        """Set while subscribed; tests and health checks await it instead of sleeping."""
        self._sent_one = asyncio.Event()
        self._requests: asyncio.TaskGroup | None = None

    @property
    def request_topic(self) -> str:
        return f"{self.config.publish_prefix}/request/+"

    def publish(self, topic_suffix: str, payload: Mapping[str, Any]) -> None:
        """Queue a message under the publish prefix; never blocks collection."""
        if len(self._outgoing) == self._outgoing.maxlen:
            self.stats.dropped_outgoing += 1
        topic = f"{self.config.publish_prefix}/{topic_suffix}"
        self._outgoing.append((topic, json.dumps(payload, separators=(",", ":")).encode()))
        self._outgoing_ready.set()

    def publish_reading(self, reading: Reading) -> None:
        self.publish(f"readings/{reading.meter}/{reading.quantity}", reading_to_json(reading))

    async def drain(self) -> bool:
        """Wait until queued messages went out (the caller bounds it with asyncio.timeout)."""
        while self._outgoing and self.connected.is_set():
            self._sent_one.clear()
            await self._sent_one.wait()
        return not self._outgoing

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff; runs until cancelled."""
        failures = 0
        async with asyncio.TaskGroup() as requests:
            self._requests = requests
            while True:
                try:
                    async with self._client() as client:
                        failures = 0
                        await self._serve(client)
                except aiomqtt.MqttError as exc:
                    self.connected.clear()
                    failures += 1
                    if failures == 1:
                        log.warning(
                            "mqtt %s:%d: connection lost: %s",
                            self.config.host,
                            self.config.port,
                            exc,
                        )
                    await asyncio.sleep(self._reconnect.delay(failures))

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.config.host,
            self.config.port,
            identifier=self.config.client_id,
            username=self.config.username,
            password=self.config.password,
            clean_session=True,
            keepalive=30,
        )

    async def _serve(self, client: aiomqtt.Client) -> None:
        for topic in self.config.ingest_topics:
            await client.subscribe(topic, qos=1)
        if self._on_request is not None:
            await client.subscribe(self.request_topic, qos=1)
        self.stats.connections += 1
        self.connected.set()
        log.info("mqtt %s:%d: subscribed", self.config.host, self.config.port)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send_loop(client))
                group.create_task(self._receive_loop(client))
        except* aiomqtt.MqttError as errors:
            raise errors.exceptions[0] from None
        finally:
            self.connected.clear()

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        while True:
            while self._outgoing:
                topic, payload = self._outgoing[0]
                await client.publish(topic, payload, qos=0)
                self._outgoing.popleft()  # only once the client took it: survives a disconnect
                self.stats.published += 1
                self._sent_one.set()
            self._outgoing_ready.clear()
            await self._outgoing_ready.wait()

    async def _receive_loop(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            self.stats.messages_in += 1
            if self._on_request is not None and message.topic.matches(self.request_topic):
                # An on-demand read can take seconds on a busy bus: answer it beside ingest.
                assert self._requests is not None
                self._requests.create_task(self._answer(topic, data))
            else:
                await self._ingest(topic, data)

    async def _ingest(self, topic: str, payload: bytes) -> None:
        try:
            parsed = parse_terminal_payload(topic, payload, self.config.names, self._devices)
        except BadPayload as exc:
            self._bad(topic, str(exc))
            return
        for problem in parsed.problems:
            self.stats.skipped_items += 1
            self._bad(topic, f"topic {topic!r}: {problem}", whole=False)
        if parsed.readings:
            self.stats.readings_in += len(parsed.readings)
            await self._on_readings(parsed.readings)

    def _bad(self, topic: str, problem: str, *, whole: bool = True) -> None:
        if whole:
            self.stats.bad_payloads += 1
        self.stats.bad_by_topic[topic] = self.stats.bad_by_topic.get(topic, 0) + 1
        if problem != self.stats.last_problem:  # log on change, not on every repeat
            log.warning("mqtt ingest: %s", problem)
        self.stats.last_problem = problem

    async def _answer(self, topic: str, payload: bytes) -> None:
        assert self._on_request is not None
        self.stats.requests += 1
        request_id = topic.rsplit("/", 1)[-1]
        try:
            request = json.loads(payload)
            if not isinstance(request, dict):
                raise ValueError("expected a JSON object")
            response = dict(await self._on_request(request))
        except Exception as exc:  # every request gets an answer, even a wrong one
            response = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        response.setdefault("ok", True)
        response["id"] = request_id
        self.publish(f"response/{request_id}", response)
