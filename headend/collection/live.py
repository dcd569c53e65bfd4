"""Where every reading and event goes once it is read: storage first, then the live consumers.

Every source (the collectors, MQTT ingest, on-demand reads, backfill) hands its readings to
``LiveReadings.publish``. Live consumers (MQTT, the dashboard's SSE, ``latest``) see a reading
only once the writer has stored it, so what an operator saw survives a kill -9.

``latest`` is indexed per meter (``LatestValues``): the meter page asks for one meter's values
many times a second per viewer, and must cost that meter's quantities, not the fleet's. It also
keeps what a reader made of each meter's values (the API's encoded JSON) until that meter's next
value, and the meters in order: the fleet-wide list then costs the meters that changed since it
was last asked for, not a sort and an encoding of every value per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Protocol

from headend.collection.writer import RecordWriter, StorageState
from headend.units import UnitGate
from storage.records import EventRecord, Quality, Reading, ReadingKind

SUBSCRIBER_QUEUE = 1000
"""Readings a live viewer may lag behind before it loses its oldest."""


class LiveOutlet(Protocol):
    """Where stored readings and events are announced (the MQTT bridge)."""

    def publish_reading(self, reading: Reading) -> None: ...

    def publish_event(self, record: EventRecord) -> None: ...


class LatestValues(Mapping[tuple[str, str], Reading]):
    """The newest stored reading of each (meter, quantity), indexed by meter.

    It is a mapping keyed by (meter, quantity) as before, so the fleet view's lookups stay as
    they are; ``of_meter`` answers one meter from its own index; ``encoded_of`` and
    ``encoded_fleet`` answer what ``encode`` made of a meter's values, made again only once the
    meter has a new value (``set`` drops it: one dict operation on the write path). The joined
    fleet is kept until any new value: values arrive per writer commit, so every request between
    two commits shares one body."""

    def __init__(self) -> None:
        self._by_meter: dict[str, dict[str, Reading]] = {}
        self._size = 0
        self._encoded: dict[str, bytes] = {}
        """Per meter: ``encode`` of its values in quantity order, until its next value."""
        self._order: list[str] | None = None
        """The meters in id order; None once a new meter has come (sorted again when asked)."""
        self._fleet: bytes | None = None
        """``encoded_fleet``'s answer, until the next value of any meter."""

    def __getitem__(self, key: tuple[str, str]) -> Reading:
        meter, quantity = key
        return self._by_meter[meter][quantity]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for meter, values in list(self._by_meter.items()):
            for quantity in list(values):
                yield meter, quantity

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        values = self._by_meter.get(key[0])
        return values is not None and key[1] in values

    def of_meter(self, meter: str) -> Mapping[str, Reading]:
        """One meter's values by quantity (empty before its first stored reading)."""
        return self._by_meter.get(meter, {})

    def encoded_of(self, meter: str, encode: Callable[[list[Reading]], bytes]) -> bytes:
        """``encode`` of one meter's values in quantity order (``encode([])`` before its first
        value), kept until the meter's next value. One ``encode`` per cache: the bytes are
        kept whatever function asks, so every caller must pass the same one."""
        encoded = self._encoded.get(meter)
        if encoded is None:
            values = self._by_meter.get(meter)
            if values is None:
                return encode([])
            encoded = self._encoded[meter] = encode([values[q] for q in sorted(values)])
        return encoded

    def meters(self) -> list[str]:
        """The meters with values, in id order (sorted again only after a new meter came)."""
        if self._order is None:
            self._order = sorted(self._by_meter)
        return self._order

    def encoded_fleet(
        self,
        encode: Callable[[list[Reading]], bytes],
        join: Callable[[list[bytes]], bytes],
    ) -> bytes:
        """``join`` of ``encoded_of`` of every meter with values, in meter id order: the
        fleet-wide list in (meter, quantity) order without sorting or encoding the values that
        did not change, kept until the next value (the same ``encode`` and ``join`` each time)."""
        if self._fleet is None:
            cached = self._encoded
            self._fleet = join(
                [cached.get(meter) or self.encoded_of(meter, encode) for meter in self.meters()]
            )
        return self._fleet

    def set(self, reading: Reading) -> None:
        meter = reading.meter
        values = self._by_meter.get(meter)
        if values is None:
            values = self._by_meter[meter] = {}
            self._order = None
        if reading.quantity not in values:
            self._size += 1
        values[reading.quantity] = reading
        self._encoded.pop(meter, None)
        self._fleet = None


def _freeze_of_live(latest: LatestValues, reading: Reading) -> bool:
    """A frozen value shares its register's name: it must not hide the live register value."""
    current = latest.of_meter(reading.meter).get(reading.quantity)
    return (
        reading.kind is ReadingKind.FROZEN
        and current is not None
        and current.kind is not ReadingKind.FROZEN
    )


def _offer(queue: asyncio.Queue[Reading], readings: list[Reading]) -> None:
    """Put the readings in order; a slow live viewer loses its oldest values, not ours. What it
    then holds is what putting one at a time, dropping the oldest when full, left: the newest
    ``maxsize`` of its queue followed by the readings."""
    limit = queue.maxsize
    if limit > 0:
        if len(readings) > limit:
            readings = readings[-limit:]
        for _ in range(queue.qsize() + len(readings) - limit):
            queue.get_nowait()
    for reading in readings:
        queue.put_nowait(reading)


class LiveReadings:
    """The readings fan-out: unit gate, anomaly intake, writer, then the live consumers."""

    def __init__(
        self,
        writer: RecordWriter,
        *,
        units: UnitGate,
        ingest: Callable[[list[Reading]], None],
        outlet: LiveOutlet | None = None,
    ) -> None:
        """``ingest`` feeds the anomaly detector (looked up at each call: a fleet change
        rebuilds the detector)."""
        self.writer = writer
        self.units = units
        self.latest = LatestValues()
        self._ingest = ingest
        self.outlet = outlet
        self._subscribers: set[asyncio.Queue[Reading]] = set()

    async def publish(
        self,
        readings: list[Reading],
        *,
        durable: bool = False,
        then: Callable[[bool], None] | None = None,
    ) -> None:
        """Every reading from every source comes through here (collection, MQTT, on-demand).

        Live consumers (MQTT, SSE, ``latest``) get a reading only once it is stored, so what an
        operator saw survives a kill -9. Collection does not wait for that (``durable=False``);
        an on-demand read does, so its answer is on disk when the caller gets it. ``then`` is
        told afterwards whether the readings were stored (True) or dropped (False).
        """
        if durable and self.writer.stats.state is StorageState.OK:
            # While storage refuses writes (an open alarm says so) the caller is not kept
            # waiting for a commit that may be hours away: the readings are queued as usual.
            readings = self.units.conform(readings)
            self._ingest(readings)
            self._readings_stored(readings, then, await self.writer.store(readings))
            return
        self.put(readings, then)

    def put(self, readings: list[Reading], then: Callable[[bool], None] | None = None) -> None:
        """``publish`` without waiting: ``then`` is told once whether the readings are stored.

        MQTT ingest acknowledges each message from ``then`` (acknowledged means on disk) while
        it goes on taking messages, so the writer commits many messages in one transaction; and
        while storage refuses writes, ``then`` waits with the readings instead of running at
        once, so nothing is acknowledged that is only in RAM."""
        readings = self.units.conform(readings)
        self._ingest(readings)
        self.writer.put(readings, partial(self._readings_stored, readings, then))

    def _readings_stored(
        self, readings: list[Reading], then: Callable[[bool], None] | None, stored: bool
    ) -> None:
        if stored:
            self._fan_out(readings)
        if then is not None:
            then(stored)

    def _fan_out(self, readings: list[Reading]) -> None:
        # Consumer by consumer, each in the readings' order (a commit hands over thousands).
        outlet, latest = self.outlet, self.latest
        if outlet is not None:
            for reading in readings:
                outlet.publish_reading(reading)
        for reading in readings:
            if reading.quality is not Quality.MISSING and not _freeze_of_live(latest, reading):
                latest.set(reading)
        for queue in self._subscribers:
            _offer(queue, readings)

    def record_events(
        self, records: list[EventRecord], then: Callable[[bool], None] | None = None
    ) -> None:
        """Events go to storage and, once stored, to live MQTT consumers; ``then`` is told
        afterwards whether they were stored (a concentrator's event pointer moves on that)."""
        self.writer.put(records, partial(self._events_stored, records, then))

    def _events_stored(
        self, records: list[EventRecord], then: Callable[[bool], None] | None, stored: bool
    ) -> None:
        if then is not None:
            then(stored)
        if self.outlet is None or not stored:
            return
        for record in records:
            self.outlet.publish_event(record)

    def subscribe(self, maxsize: int = SUBSCRIBER_QUEUE) -> asyncio.Queue[Reading]:
        """A live feed of readings (dashboard, SSE); call ``unsubscribe`` when done."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Reading]) -> None:
        self._subscribers.discard(queue)
