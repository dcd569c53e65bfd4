"""The head-end's MQTT side: ingest terminal telemetry, publish readings and events, answer
on-demand requests — one broker connection that survives broker and head-end restarts.

Telemetry must not be lost while the head-end restarts, so the bridge keeps a persistent
session (MQTT 5, clean start off, a session expiry) under a stable client id, subscribes with
QoS 1, and acknowledges a message only after its readings were handed on: the broker queues
what arrives while we are away and sends again what we had not acknowledged. Redelivery means
duplicates, which are made harmless: a reading is identified by meter, quantity and timestamp,
and one already taken is dropped and counted. Re-subscribing the same filter on a reconnect
replaces the subscription, so no message is delivered twice by it.

The engine hands readings on with ``store_readings``, which does not wait: the next messages
are parsed while earlier ones commit, and the record writer commits many messages' readings in
one transaction. Each message is acknowledged from its readings' stored-callback, in the order
the messages came (``_Acks``), so an acknowledged message is on disk; the PUBACKs decided
within a couple of milliseconds go out as one write (``PubackBatch``); while storage refuses
writes nothing is acknowledged and, with at most ``max_unacked`` messages in flight (also the
Receive Maximum the broker is told), the broker holds the rest. Readings the writer had to drop
stop the acknowledgements of that connection, which is then closed so that the broker sends
again everything not acknowledged.

Requests are subscribed with QoS 0, so the broker does not queue them while we are down: a
clock request sent yesterday must not be executed at the next start. Each one must name an
allowed requester with its token and stay within that requester's rate (``request_gate``).

Outgoing messages wait in a bounded queue while the broker is away; live consumers want the
newest values, and the durable copy of every reading is the storage outbox's job, so the oldest
live messages are dropped (and counted) when the queue is full rather than growing without
bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from headend.bus.backoff import Backoff
from headend.config.mqtt import MqttConfig
from headend.mqtt import frames
from headend.mqtt.messages import event_to_json, event_topic, reading_payload
from headend.mqtt.request_gate import RequestGate, RequestRefused, TokenBucket, claimed_name
from headend.mqtt.terminal_payload import BadPayload, PayloadLimits, parse_terminal_payload
from storage.records import EventRecord, Reading, ReadingKind

log = logging.getLogger(__name__)

ReadingHandler = Callable[[list[Reading]], Awaitable[None]]
"""Takes readings and returns once they are handed on; the message is then acknowledged."""
Stored = Callable[[bool], None]
ReadingStore = Callable[[list[Reading], Stored], None]
"""Takes readings without waiting, and calls back once they are stored (True) or dropped."""
RequestHandler = Callable[[Mapping[str, Any], str], Awaitable[Mapping[str, Any]]]
"""(request, requester name) -> answer; raising gives the requester an error answer."""

_Key = tuple[str, str, datetime]
"""A reading's identity: meter, quantity, timestamp."""
SEEN_READINGS = 65_536
"""Reading identities remembered to drop redelivered duplicates (a few hours of a fleet's
terminals); a duplicate older than that is still harmless in storage, which keys by the same."""
MAX_TRACKED_TOPICS = 1000
"""Distinct topics counted by name; more (a client spraying topics) are counted as one."""
MAX_REQUEST_BYTES = 16 * 1024
REFUSAL_REPLY_RATE = 5.0
REFUSAL_REPLY_BURST = 50
"""Refusals answered per second (after a burst), all requesters together."""
OTHER_TOPICS = "(other)"
SEND_BATCH = 500
"""Outgoing messages handed to paho between two awaits: a backlog never holds the loop long."""
_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""``json.dumps(..., separators=...)`` builds an encoder per call; one per reading is costly."""
ACK_DELAY = 0.002
ACK_BATCH = 100
"""PUBACKs are written together, at most ``ACK_DELAY`` seconds after the first of them was
decided or once ``ACK_BATCH`` are waiting (``PubackBatch``)."""
MAX_UNACKED = 1000
"""Telemetry messages received but not yet acknowledged (their readings not yet on disk): enough
for the writer to commit hundreds of messages at once, few enough that a storage outage holds
the rest at the broker rather than in RAM."""


class _Acks:
    """The PUBACKs of one connection, sent in the order the messages came (MQTT requires it).

    A message is settled when its readings are stored (or it had none to store); only a settled
    front is acknowledged, so a quickly parsed bad message never overtakes one still committing.
    Once a message's readings were dropped, nothing more is acknowledged on this connection: the
    broker then sends every one of them again after the reconnect."""

    __slots__ = ("_ack", "_queue", "halted", "room")

    def __init__(self, ack: Callable[[int, int], object]) -> None:
        self._ack = ack
        self._queue: deque[list[int | bool | None]] = deque()
        """[mid, qos, settled]: settled is None while waiting, True to ack, False to hold."""
        self.halted = False
        self.room = asyncio.Event()
        self.room.set()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, mid: int, qos: int) -> list[int | bool | None]:
        slot: list[int | bool | None] = [mid, qos, None]
        self._queue.append(slot)
        return slot

    def settle(self, slot: list[int | bool | None], ack: bool) -> None:
        slot[2] = ack
        queue = self._queue
        while queue and queue[0][2] is not None:
            mid, qos, settled = queue.popleft()
            if not settled:
                self.halted = True
            if qos and not self.halted:
                self._ack(mid, qos)  # type: ignore[arg-type]
        self.room.set()


class PubackBatch:
    """The PUBACKs of one connection, written together: one packet entry and one send for all
    that were decided within ``ACK_DELAY`` (or ``ACK_BATCH`` of them), where ``paho.ack`` made a
    send, and woke the broker, per message. Delaying an acknowledgement never weakens it: the
    broker only holds the message a little longer. A paho without the packet queue, or a QoS
    other than 1, takes ``paho.ack``."""

    __slots__ = ("_handle", "_mids", "_paho")

    def __init__(self, paho: mqtt.Client) -> None:
        self._paho = paho
        self._mids: list[int] = []
        self._handle: asyncio.TimerHandle | None = None

    def ack(self, mid: int, qos: int) -> None:
        if qos != 1 or getattr(self._paho, "_packet_queue", None) is None:
            self._paho.ack(mid, qos)
            return
        self._mids.append(mid)
        if len(self._mids) >= ACK_BATCH:
            self.flush()
        elif self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(ACK_DELAY, self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        mids, self._mids = self._mids, []
        paho = self._paho
        if not mids or paho._sock is None:
            return  # not connected: the broker sends these again after the reconnect
        buffer = bytearray()
        for mid in mids:
            frames.append_puback(buffer, mid)
        paho._packet_queue(frames.PUBACK, buffer, 0, 0)


@dataclass(slots=True)
class MqttStats:
    messages_in: int = 0
    readings_in: int = 0
    bad_payloads: int = 0
    skipped_items: int = 0
    duplicates: int = 0
    published: int = 0
    dropped_outgoing: int = 0
    not_stored: int = 0
    """Readings the writer dropped: their messages were not acknowledged (sent again)."""
    connections: int = 0
    requests: int = 0
    last_problem: str | None = None
    bad_by_topic: dict[str, int] = field(default_factory=dict)
    problems: dict[tuple[str, str], int] = field(default_factory=dict)
    """(topic, reason) -> count: which terminal sends what kind of bad data."""
    refused_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    """(reason, requester as claimed) -> count."""


class MqttBridge:
    def __init__(
        self,
        config: MqttConfig,
        *,
        transformer_of_device: Mapping[str, str],
        on_readings: ReadingHandler | None = None,
        store_readings: ReadingStore | None = None,
        on_request: RequestHandler | None = None,
        outgoing_limit: int = 10_000,
        reconnect: Backoff | None = None,
        gate: RequestGate | None = None,
        max_unacked: int = MAX_UNACKED,
    ) -> None:
        """Give ``on_readings`` (awaited per message) or ``store_readings`` (pipelined)."""
        if (on_readings is None) == (store_readings is None):
            raise ValueError("MqttBridge needs exactly one of on_readings and store_readings")
        if max_unacked < 1:
            raise ValueError(f"max_unacked must be >= 1, got {max_unacked}")
        self.config = config
        self.stats = MqttStats()
        self._devices = transformer_of_device
        self._on_readings = on_readings
        self._store_readings = store_readings
        self._max_unacked = max_unacked
        self._pending: set[_Key] = set()
        """Identities of readings handed to ``store_readings`` whose outcome is not known yet."""
        self._redeliver = asyncio.Event()
        self._on_request = on_request
        self._limits = PayloadLimits(config.max_message_bytes, config.max_items)
        self._gate = gate or RequestGate(
            config.requesters, rate=config.request_rate, burst=config.request_burst
        )
        self._requester_names = frozenset(r.name for r in config.requesters)
        self._refusal_replies = TokenBucket(REFUSAL_REPLY_RATE, REFUSAL_REPLY_BURST)
        self._in_flight = 0
        self._seen: OrderedDict[_Key, None] = OrderedDict()
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
        self._enqueue(topic_suffix, _COMPACT.encode(payload).encode())

    def _enqueue(self, topic_suffix: str, data: bytes) -> None:
        if len(self._outgoing) == self._outgoing.maxlen:
            self.stats.dropped_outgoing += 1
        self._outgoing.append((f"{self.config.publish_prefix}/{topic_suffix}", data))
        self._outgoing_ready.set()

    def publish_reading(self, reading: Reading) -> None:
        """``readings/<meter>/<quantity>``; a daily freeze, which shares its register's name,
        goes one level down (``.../frozen``), so a live subscriber (``readings/+/+``) never
        mistakes yesterday's freeze for the register's value now."""
        topic = f"readings/{reading.meter}/{reading.quantity}"
        if reading.kind is ReadingKind.FROZEN:
            topic += "/frozen"
        self._enqueue(topic, reading_payload(reading))

    def publish_event(self, record: EventRecord) -> None:
        """``events/<meter>/<event>``: alarms raised and closed, relay orders, health."""
        self.publish(event_topic(record), event_to_json(record))

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
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = int(self.config.session_expiry)
        # The broker sends at most this many unacknowledged messages (mosquitto's default is
        # 20, which would leave the writer a handful of messages per commit).
        properties.ReceiveMaximum = self._max_unacked
        client = aiomqtt.Client(
            self.config.host,
            self.config.port,
            identifier=self.config.client_id,
            username=self.config.username,
            password=self.config.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            keepalive=30,
        )
        # aiomqtt has no option for it: acknowledge only once the readings were handed on, so
        # a message we die holding is sent again by the broker (paho's documented manual ack).
        client._client.manual_ack_set(True)
        return client

    async def _serve(self, client: aiomqtt.Client) -> None:
        for topic in self.config.ingest_topics:
            await client.subscribe(topic, qos=1)
        if self._on_request is not None:
            await client.subscribe(self.request_topic, qos=0)
        self.stats.connections += 1
        self._redeliver.clear()
        # Acknowledgements belong to their connection: a message stored after a reconnect is
        # not acknowledged under its old packet id (the broker sends it again; it is then a
        # duplicate, dropped and acknowledged).
        pubacks = PubackBatch(client._client)
        acks = _Acks(pubacks.ack)
        self.connected.set()
        log.info("mqtt %s:%d: subscribed", self.config.host, self.config.port)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send_loop(client))
                group.create_task(self._receive_loop(client, acks))
                group.create_task(self._watch_redelivery())
        except* aiomqtt.MqttError as errors:
            raise errors.exceptions[0] from None
        finally:
            acks.halted = True
            pubacks.flush()  # what was decided before goes out, if the connection still can
            self.connected.clear()

    async def _watch_redelivery(self) -> None:
        await self._redeliver.wait()
        raise aiomqtt.MqttError("readings dropped by storage: reconnecting to have them sent again")

    async def _send_loop(self, client: aiomqtt.Client) -> None:
        this = asyncio.current_task()
        paho = client._client
        outgoing = self._outgoing
        while True:
            while outgoing:
                # Every stored reading goes out (15 a telemetry message): all but the last queued
                # are handed to paho at once, without waiting for each to be written; the last is
                # awaited, and paho writes in order, so once it is out all before it are too.
                if len(outgoing) > 1:
                    self._hand_to_paho(paho, outgoing)
                topic, payload = outgoing[0]
                await client.publish(topic, payload, qos=0)
                if this is not None and this.cancelling():
                    # aiomqtt waits with asyncio.wait_for, which on Python 3.11 drops a cancel
                    # that arrives as the publish completes (CPython gh-86296): without this the
                    # loop went back to waiting and a cancelled engine never finished stopping.
                    raise asyncio.CancelledError
                outgoing.popleft()  # only once the client took it: survives a disconnect
                self.stats.published += 1
                self._sent_one.set()
            self._outgoing_ready.clear()
            await self._outgoing_ready.wait()

    def _is_request(self, topic: str) -> bool:
        """``<prefix>/request/<id>`` (the filter ``request_topic``), without aiomqtt's Topic."""
        prefix = f"{self.config.publish_prefix}/request/"
        return topic.startswith(prefix) and "/" not in topic[len(prefix) :]

    def _hand_to_paho(self, paho: mqtt.Client, outgoing: deque[tuple[str, bytes]]) -> None:
        """Up to ``SEND_BATCH`` messages (never the last queued) as one buffer of PUBLISH packets
        (``frames``): one packet entry, one send, one publish callback for them all. A topic the
        encoder leaves to paho, or a paho without the packet queue, takes ``paho.publish``."""
        queue_packet = getattr(paho, "_packet_queue", None)
        if paho._sock is None:
            return  # not connected: the awaited publish says why, the reconnect sends them
        buffer = bytearray()
        count = 0
        for _ in range(min(len(outgoing) - 1, SEND_BATCH)):
            topic, payload = outgoing[0]
            if queue_packet is None or not frames.publishable(topic):
                if count:
                    break  # what is in the buffer goes first: the order is kept
                if paho.publish(topic, payload, 0).rc != mqtt.MQTT_ERR_SUCCESS:
                    return  # not connected: the awaited publish says why
            else:
                frames.append_publish(buffer, topic, payload)
                count += 1
            outgoing.popleft()
            self.stats.published += 1
        if not count:
            return
        assert queue_packet is not None
        mid = paho._mid_generate()
        queue_packet(frames.PUBLISH, buffer, mid, 0, mqtt.MQTTMessageInfo(mid))

    async def _receive_loop(self, client: aiomqtt.Client, acks: _Acks) -> None:
        stats = self.stats
        answers = self._on_request is not None
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            stats.messages_in += 1
            if answers and self._is_request(topic):
                self._admit(topic, data)
                continue
            slot = acks.add(message.mid, message.qos)
            if self._store_readings is not None:
                self._hand_on(topic, data, acks, slot)
                while len(acks) >= self._max_unacked:  # bounded: the broker holds the rest
                    acks.room.clear()
                    await acks.room.wait()
            else:
                await self._ingest(topic, data)
                acks.settle(slot, True)

    def _parse(self, topic: str, payload: bytes) -> tuple[list[Reading], list[_Key]]:
        """The message's readings not taken before, and their identities (made once, used by
        every step after); problems are counted, never raised."""
        try:
            parsed = parse_terminal_payload(
                topic, payload, self.config.points, self._devices, self._limits
            )
        except BadPayload as exc:
            self._bad(topic, exc.reason, str(exc))
            return [], []
        except Exception as exc:  # a parser bug must not let one message stop ingest
            log.exception("mqtt ingest: topic %r: parser failed", topic)
            self._bad(topic, "internal_error", f"topic {topic!r}: {type(exc).__name__}: {exc}")
            return [], []
        for problem in parsed.problems:
            self.stats.skipped_items += 1
            self._bad(topic, problem.reason, f"topic {topic!r}: {problem.text}", whole=False)
        return self._not_taken(parsed.readings)

    async def _ingest(self, topic: str, payload: bytes) -> None:
        fresh, keys = self._parse(topic, payload)
        if not fresh:
            return
        assert self._on_readings is not None
        try:
            await self._on_readings(fresh)
        except Exception as exc:  # e.g. a reading the engine refuses: counted, ingest goes on
            self._refused(topic, exc)
            return
        self._taken(keys)

    def _hand_on(
        self, topic: str, payload: bytes, acks: _Acks, slot: list[int | bool | None]
    ) -> None:
        """Pipelined: hand the readings to storage and acknowledge once it says they are on disk.

        A message with nothing new is settled at once, but acknowledged only after the messages
        before it (``_Acks``): a duplicate of a reading still committing waits for that commit."""
        fresh, keys = self._parse(topic, payload)
        if not fresh:
            acks.settle(slot, True)
            return
        assert self._store_readings is not None
        self._pending.update(keys)
        try:
            self._store_readings(fresh, partial(self._stored, keys, acks, slot))
        except Exception as exc:  # e.g. a reading the engine refuses: counted, ingest goes on
            self._pending.difference_update(keys)
            self._refused(topic, exc)
            acks.settle(slot, True)

    def _stored(
        self, keys: list[_Key], acks: _Acks, slot: list[int | bool | None], stored: bool
    ) -> None:
        self._pending.difference_update(keys)
        if stored:
            self._taken(keys)
        else:
            self.stats.not_stored += len(keys)
            if not acks.halted:
                log.error(
                    "mqtt ingest: storage dropped %d readings; not acknowledging, reconnecting so "
                    "that the broker sends them again",
                    len(keys),
                )
            self._redeliver.set()
        acks.settle(slot, stored)

    def _refused(self, topic: str, exc: Exception) -> None:
        log.error("mqtt ingest: topic %r: readings not taken", topic, exc_info=exc)
        self._bad(topic, "refused_by_engine", f"topic {topic!r}: {type(exc).__name__}: {exc}")

    def _taken(self, keys: list[_Key]) -> None:
        # Remembered only once taken: a reading the engine refused, or one whose commit was cut
        # short by a lost connection, is not a duplicate when the broker sends it again.
        self.stats.readings_in += len(keys)
        seen = self._seen
        seen.update(dict.fromkeys(keys))
        while len(seen) > SEEN_READINGS:
            seen.popitem(last=False)

    def _not_taken(self, readings: list[Reading]) -> tuple[list[Reading], list[_Key]]:
        """Readings neither taken nor on their way to storage (``_pending``): those are
        duplicates, counted; the message carrying them is acknowledged after the first."""
        fresh: dict[_Key, Reading] = {}
        seen, pending = self._seen, self._pending
        for reading in readings:
            key = (reading.meter, reading.quantity, reading.timestamp)
            if key in seen or key in pending or key in fresh:
                self.stats.duplicates += 1
            else:
                fresh[key] = reading
        return list(fresh.values()), list(fresh)

    def _bad(self, topic: str, reason: str, problem: str, *, whole: bool = True) -> None:
        if whole:
            self.stats.bad_payloads += 1
        by_topic = self.stats.bad_by_topic
        if topic not in by_topic and len(by_topic) >= MAX_TRACKED_TOPICS:
            topic = OTHER_TOPICS
        by_topic[topic] = by_topic.get(topic, 0) + 1
        key = (topic, reason)
        self.stats.problems[key] = self.stats.problems.get(key, 0) + 1
        if problem != self.stats.last_problem:  # log on change, not on every repeat
            log.warning("mqtt ingest: %s", problem)
        self.stats.last_problem = problem

    def _admit(self, topic: str, payload: bytes) -> None:
        """Check identity, rate and load before any bus time is spent; refusals are answered."""
        request_id = topic.rsplit("/", 1)[-1]
        try:
            request = _request_document(payload)
        except RequestRefused as exc:
            self._refuse(request_id, "?", exc)
            return
        try:
            requester = self._gate.admit(request)
            if self._in_flight >= self.config.max_requests_in_flight:
                raise RequestRefused("busy", "request refused: too many requests in progress")
        except RequestRefused as exc:
            self._refuse(request_id, claimed_name(request), exc)
            return
        # An on-demand read can take seconds on a busy bus: answer it beside ingest.
        assert self._requests is not None
        self._in_flight += 1
        self._requests.create_task(self._answer(request_id, request, requester))

    def _refuse(self, request_id: str, name: str, refusal: RequestRefused) -> None:
        # Counted under a configured name only: a stranger must not grow the metric labels.
        key = (refusal.reason, name if name in self._requester_names else "?")
        self.stats.refused_requests[key] = self.stats.refused_requests.get(key, 0) + 1
        log.warning("mqtt request %r from %r: %s", request_id[:64], name, refusal)
        # A flood of refused requests must not turn into a flood of replies pushing live
        # readings out of the outgoing queue: beyond this budget refusals are only counted.
        if self._refusal_replies.take(time.monotonic()):
            self._reply(request_id, {"ok": False, "error": str(refusal), "refused": refusal.reason})

    async def _answer(self, request_id: str, request: Mapping[str, Any], requester: str) -> None:
        assert self._on_request is not None
        self.stats.requests += 1
        try:
            response = dict(await self._on_request(request, requester))
        except Exception as exc:  # every request gets an answer, even a wrong one
            response = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            self._in_flight -= 1
        self._reply(request_id, response)

    def _reply(self, request_id: str, response: dict[str, Any]) -> None:
        response.setdefault("ok", True)
        response["id"] = request_id
        self.publish(f"response/{request_id}", response)


def _request_document(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_REQUEST_BYTES:
        raise RequestRefused("bad_request", f"request refused: larger than {MAX_REQUEST_BYTES} B")
    try:
        request = json.loads(payload)
    except (RecursionError, ValueError):
        raise RequestRefused("bad_request", "request refused: not JSON") from None
    if not isinstance(request, dict):
        raise RequestRefused("bad_request", "request refused: expected a JSON object")
    return request
