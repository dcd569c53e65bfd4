"""The collection engine: every channel's worker and collector, and where readings go.

This is the composition root of the running head-end. It owns the registry of meters, one
bus worker + collector per channel, the record writer in front of storage, the anomaly
detector, the alarm book and (optionally) the MQTT bridge, all inside one TaskGroup so a
shutdown finishes in-flight requests and flushes buffers in order. The operator-facing
operations (on-demand read, relay control, time sync, fleet changes) are methods here; the
HTTP API and MQTT requests call them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from headend.alarms import AlarmBook
from headend.anomaly import AnomalyDetector, FleetLayout
from headend.anomaly.config import AnomalyConfig
from headend.backoff import Backoff
from headend.bus_link import BusLink
from headend.bus_worker import BusPolicy, BusWorker
from headend.clock import Clock, SystemClock
from headend.collector import BusAction, ChannelCollector
from headend.completeness import CompletenessRow, CompletenessTracker
from headend.errors import ReadFailed
from headend.fleet_config import ChannelConfig, FleetConfig, MeterConfig
from headend.lanes import Lane
from headend.meter_health import HealthChange, MeterHealth
from headend.modbus import ModbusAdapter
from headend.readers.dlt645 import read_dlt645
from headend.readers.modbus import ModbusLink, modbus_target, read_modbus
from headend.readings import Quality, Reading
from headend.record_writer import RecordWriter
from headend.registry import MeterRegistry
from headend.transports import create_transport
from headend.transports.memory import MemoryNetwork
from storage.records import EventRecord, Severity
from storage.sink import Sink

log = logging.getLogger(__name__)

NO_BUILDING = "(no building)"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    anomaly: AnomalyConfig | None = None
    sweep_interval: float = 60.0
    """Seconds of engine-clock time between anomaly sweeps."""
    offline_after: int = 3
    jitter: float = 2.0
    writer_interval: float = 1.0


class Engine:
    def __init__(
        self,
        config: FleetConfig,
        sink: Sink,
        *,
        clock: Clock | None = None,
        memory: MemoryNetwork | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.options = options or EngineOptions()
        self.registry = MeterRegistry(config)
        self.health = MeterHealth(offline_after=self.options.offline_after)
        self.completeness = CompletenessTracker(config.timezone)
        self.alarms = AlarmBook()
        self.writer = RecordWriter(sink, interval=self.options.writer_interval)
        self.latest: dict[tuple[str, str], Reading] = {}
        self._subscribers: set[asyncio.Queue[Reading]] = set()
        self._memory = memory
        self.workers: dict[str, BusWorker[Any]] = {}
        self.collectors: dict[str, ChannelCollector] = {}
        for channel in config.channels.values():
            worker = self._worker(channel)
            self.workers[channel.name] = worker
            self.collectors[channel.name] = ChannelCollector(
                worker=worker,
                plans=dict(config.plans),
                clock=self.clock,
                read_factory=self._read_factory(channel),
                on_readings=self.publish,
                on_health=self._health_changed,
                health=self.health,
                completeness=self.completeness,
                jitter=self.options.jitter,
            )
        self.detector = AnomalyDetector(self._layout(), self.options.anomaly)
        self.ready = asyncio.Event()
        self.registry.on_change(self._meter_changed)
        for meter in self.registry:
            self.collectors[meter.channel].set_meter(meter.id, meter)

    # -- construction ------------------------------------------------------------------------

    def _worker(self, channel: ChannelConfig) -> BusWorker[Any]:
        policy = BusPolicy(
            retries=channel.retries,
            retry_backoff=Backoff(channel.retry_backoff, max(channel.retry_backoff, 5.0)),
            reconnect_backoff=Backoff(1.0, channel.reconnect_backoff_max),
        )
        if channel.protocol == "modbus":
            adapter = ModbusAdapter(modbus_target(channel.url), timeout=channel.timeout)
            return BusWorker(channel.name, ModbusLink(adapter), policy)
        transport = create_transport(channel.url, protocol=channel.protocol, memory=self._memory)
        return BusWorker(channel.name, BusLink(transport, gap=channel.inter_frame_gap), policy)

    def _read_factory(self, channel: ChannelConfig) -> Any:
        def factory(meter: MeterConfig, quantities: Sequence[str], slot: Any) -> BusAction:
            if channel.protocol == "modbus":

                async def modbus_action(link: ModbusLink) -> list[Reading]:
                    return await read_modbus(link, meter, quantities, slot)

                return modbus_action

            async def dlt645_action(link: BusLink) -> list[Reading]:
                return await read_dlt645(
                    link, meter, quantities, slot, reply_timeout=channel.timeout
                )

            return dlt645_action

        return factory

    def _layout(self) -> FleetLayout:
        """The anomaly layout: meters under a transformer (a meter outside any 台区 has no
        transformer to judge it against, so it is left out and said so)."""
        meters = [m for m in self.registry if m.transformer]
        left_out = len(self.registry) - len(meters)
        if left_out:
            log.warning("anomaly detection skips %d meters without a transformer", left_out)
        transformers = list(self.config.transformers.values())
        index = {t.name: i for i, t in enumerate(transformers)}
        buildings = sorted({m.building or NO_BUILDING for m in meters})
        building_index = {b: i for i, b in enumerate(buildings)}
        return FleetLayout(
            meter_ids=[m.id for m in meters],
            transformer_ids=[t.terminal or t.name for t in transformers],
            rated_kva=[t.rated_kva for t in transformers],
            meter_transformer=[index[m.transformer or ""] for m in meters],
            building_ids=buildings,
            meter_building=[building_index[m.building or NO_BUILDING] for m in meters],
            three_phase=[m.phase == "ABC" for m in meters],
        )

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Collect until cancelled; on cancellation, in-flight reads end and buffers flush."""
        try:
            async with asyncio.TaskGroup() as group:
                for worker in self.workers.values():
                    group.create_task(worker.run(), name=f"bus {worker.name}")
                for collector in self.collectors.values():
                    group.create_task(collector.run(), name=f"collector {collector.name}")
                group.create_task(self.writer.run(), name="writer")
                group.create_task(self._sweep_loop(), name="anomaly sweep")
                self.ready.set()
        finally:
            for worker in self.workers.values():
                worker.close()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.clock.real_seconds(self.options.sweep_interval))
            self.sweep()

    def sweep(self) -> list[EventRecord]:
        """One anomaly sweep at the engine's current time; records go to storage."""
        records = []
        for event in self.detector.sweep(self.clock.now()):
            records.append(self.alarms.anomaly(event, self._subject_tags(event.subject_id)))
        if records:
            self.writer.put(records)
        return records

    def _subject_tags(self, subject: str) -> dict[str, str]:
        if subject in self.registry:
            return self.registry.get(subject).tags()
        return {}

    # -- readings ----------------------------------------------------------------------------

    async def publish(self, readings: list[Reading]) -> None:
        """Every reading from every source comes through here (collection, MQTT, on-demand)."""
        self.writer.put(readings)
        self.detector.ingest_many(readings)
        for reading in readings:
            if reading.quality is not Quality.MISSING:
                self.latest[(reading.meter, reading.quantity)] = reading
            for queue in self._subscribers:
                if queue.full():
                    queue.get_nowait()  # a slow live viewer loses its oldest value, not ours
                queue.put_nowait(reading)

    def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[Reading]:
        """A live feed of readings (dashboard, SSE); call ``unsubscribe`` when done."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Reading]) -> None:
        self._subscribers.discard(queue)

    async def _health_changed(self, meter: MeterConfig, change: HealthChange, detail: str) -> None:
        offline = change is HealthChange.WENT_OFFLINE
        if offline:
            log.warning("meter %s offline: %s", meter.id, detail)
        else:
            log.info("meter %s online again", meter.id)
        record = self.alarms.meter_event(
            meter.id,
            HealthChange.WENT_OFFLINE.value,
            active=offline,
            at=self.clock.now(),
            detail=detail,
            severity=Severity.WARNING,
            tags=meter.tags(),
        )
        self.writer.put([record])

    # -- operator operations -----------------------------------------------------------------

    async def read_now(
        self, meter_id: str, quantities: Sequence[str] | None = None
    ) -> list[Reading]:
        """An operator's on-demand read: control lane, ahead of scheduled work."""
        meter = self.registry.get(meter_id)
        wanted = tuple(quantities or self._plan_quantities(meter))
        self.registry.validate_quantities(meter, wanted, where=f"on-demand read of {meter.id}")
        slot = self.clock.now()
        action = self._read_factory(self.config.channels[meter.channel])(meter, wanted, slot)
        worker = self.workers[meter.channel]
        try:
            readings: list[Reading] = await worker.call(
                Lane.CONTROL, f"on-demand {meter.id}", action
            )
        except ReadFailed as exc:
            self.health.failure(meter.id, exc.reason.value, slot)
            raise
        await self.publish(readings)
        return readings

    def _plan_quantities(self, meter: MeterConfig) -> list[str]:
        plan = self.config.plans[meter.plan]
        return list(dict.fromkeys(q for spec in plan.reads for q in spec.quantities))

    def completeness_rows(self, day: date, group_by: str) -> list[CompletenessRow]:
        """Expected vs received for ``day`` by meter, channel, transformer or building."""
        meters = self.registry.by_id()

        def group_of(meter_id: str) -> str | None:
            meter = meters.get(meter_id)
            if meter is None:
                return None
            if group_by == "meter":
                return meter.id
            value: str | None = getattr(meter, group_by)
            return value

        return self.completeness.rollup(day, group_of)

    # -- fleet changes -----------------------------------------------------------------------

    def _meter_changed(self, meter_id: str, meter: MeterConfig | None) -> None:
        for collector in self.collectors.values():
            collector.set_meter(meter_id, None)
        if meter is not None:
            self.collectors[meter.channel].set_meter(meter_id, meter)
        # The layout is fixed-size numpy arrays: a fleet change rebuilds it (open anomaly
        # incidents restart their minimum-duration clocks; fleet changes are rare).
        self.detector = AnomalyDetector(self._layout(), self.options.anomaly)
