"""The terminal simulator's MQTT side: periodic telemetry and on-demand replies, per transformer.

One aiomqtt connection serves every transformer of the community (each transformer is one
terminal with its own topics). The community is advanced from the injected clock just before
values are read, both for the periodic publish and for an on-demand request, so a reply always
describes "now" in simulated time. If the broker goes away the simulator reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import aiomqtt

from simulators.community.model import Community
from simulators.community.values import TransformerValues
from simulators.terminal.config import TerminalConfig
from simulators.terminal.errors import RequestError, TerminalConfigError
from simulators.terminal.payload import decode_request, encode_error, encode_values

log = logging.getLogger(__name__)

MQTT_CLIENT_LOGGER = f"{__name__}.mqtt"
"""The simulator's aiomqtt client logs here, apart from the head-end's client, so that the
application can quieten it (aiomqtt warns on every publish while more than ten are pending)."""


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()


class TerminalSimulator:
    """Publishes every ``interval_s`` (real seconds) and answers requests until ``stop()``."""

    def __init__(
        self,
        community: Community,
        clock: Callable[[], datetime],
        config: TerminalConfig | None = None,
        *,
        transformers: Sequence[str] | None = None,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        """``username``/``password`` log in to a broker with ACLs (deploy/mosquitto/acl-field
        lets the terminal user write only telemetry and responses)."""
        self.community = community
        self.config = config or TerminalConfig(utc_offset=community.scenario.utc_offset)
        known = [t.id for t in community.scenario.transformers]
        self.transformers = tuple(known if transformers is None else transformers)
        missing = sorted(set(self.transformers) - set(known))
        if missing:
            raise TerminalConfigError(f"terminal simulator: unknown transformer(s) {missing}")
        self._clock = clock
        self._client_id = client_id
        self._username = username
        self._password = password
        self._by_request_topic = {
            self.config.topic(self.config.request_topic, t): t for t in self.transformers
        }
        self._sequence = 0
        self._stop = asyncio.Event()
        self.ready = asyncio.Event()
        """Set while connected and subscribed: requests sent now will be answered."""
        self.published = 0
        """Telemetry messages published so far (all transformers, all connections)."""
        self._broker_up: bool | None = None

    def stop(self) -> None:
        self._stop.set()

    async def run(self, hostname: str, port: int = 1883) -> None:
        """Connect, publish and serve until ``stop()``; reconnect after losing the broker."""
        where = f"{hostname}:{port}"
        while not self._stop.is_set():
            lost: aiomqtt.MqttError | None = None
            try:
                await self._session(hostname, port, where)
            except* aiomqtt.MqttError as group:
                lost = next(e for e in group.exceptions if isinstance(e, aiomqtt.MqttError))
            self.ready.clear()
            if lost is not None:
                self._note_broker(up=False, where=where, detail=str(lost))
                await self._wait_for_stop(self.config.reconnect_delay_s)

    def _note_broker(self, *, up: bool, where: str, detail: str = "") -> None:
        """Log connection state changes only, not every failed reconnect attempt."""
        if up is not self._broker_up:
            if up:
                level = logging.INFO if self._broker_up is None else logging.WARNING
                log.log(level, "terminal simulator: connected to broker %s", where)
            else:
                log.warning("terminal simulator: broker %s unavailable (%s)", where, detail)
        self._broker_up = up

    async def _session(self, hostname: str, port: int, where: str) -> None:
        async with aiomqtt.Client(
            hostname,
            port,
            identifier=self._client_id,
            username=self._username,
            password=self._password,
            logger=logging.getLogger(MQTT_CLIENT_LOGGER),
        ) as client:
            for topic in self._by_request_topic:
                await client.subscribe(topic, qos=self.config.qos)
            self._note_broker(up=True, where=where)
            self.ready.set()
            async with asyncio.TaskGroup() as group:
                publisher = group.create_task(self._publish_loop(client))
                server = group.create_task(self._serve(client))
                await self._stop.wait()
                publisher.cancel()
                server.cancel()

    async def _wait_for_stop(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if ``stop()`` came first."""
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            return False
        return True

    def _values(self, transformer: str) -> TransformerValues:
        moment = self._clock()
        if moment > self.community.now:
            self.community.advance_to(moment)
        return self.community.transformer_values(transformer)

    def _token(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    async def publish_once(self, client: aiomqtt.Client) -> None:
        """One telemetry message per transformer, all at the same simulated instant."""
        values = [self._values(t) for t in self.transformers]
        for value in values:
            topic = self.config.topic(self.config.telemetry_topic, value.transformer_id)
            payload = encode_values(self.config, value, self._token())
            await client.publish(topic, payload, qos=self.config.qos)
            self.published += 1

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await self.publish_once(client)
            if await self._wait_for_stop(self.config.interval_s):
                return

    async def _serve(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            transformer = self._by_request_topic.get(str(message.topic))
            if transformer is not None:
                await self._answer(client, transformer, _payload_bytes(message.payload))

    async def _answer(self, client: aiomqtt.Client, transformer: str, payload: bytes) -> None:
        topic = self.config.topic(self.config.response_topic, transformer)
        try:
            request = decode_request(self.config, payload)
        except RequestError as exc:
            log.warning("terminal %s: refused request: %s", transformer, exc)
            if exc.token is None:
                return
            reply = encode_error(self.config, exc.token, self.community.now, str(exc))
        else:
            values = self._values(transformer)
            wanted = set(request.points)
            points = [p for p in self.config.points if p.name in wanted] if wanted else None
            reply = encode_values(self.config, values, request.token, points)
        await client.publish(topic, reply, qos=self.config.qos)
