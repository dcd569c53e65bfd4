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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from headend.anomaly import AnomalyDetector, FleetLayout
from headend.anomaly.alarms import AlarmBook
from headend.anomaly.config import AnomalyConfig
from headend.bus.backoff import Backoff
from headend.bus.lanes import Lane
from headend.bus.link import BusLink
from headend.bus.worker import BusPolicy, BusWorker
from headend.clock import Clock, SystemClock
from headend.collection import downtime
from headend.collection.backfill import FROZEN_TOTAL, FrozenBackfill, FrozenDay
from headend.collection.collector import BusAction, ChannelCollector
from headend.collection.completeness import CompletenessRow, CompletenessTracker
from headend.collection.downtime import recover, restore_frozen_days
from headend.collection.health import HealthChange, MeterHealth
from headend.collection.overlay import FleetOverlay
from headend.collection.registry import MeterRegistry
from headend.collection.schedule import next_slot
from headend.collection.writer import RecordWriter, StorageState, WriterLimits
from headend.commands.audit import AuditLog
from headend.commands.fleet_changes import FleetChanges
from headend.config.fleet import LOAD_METER, ChannelConfig, FleetConfig, MeterConfig
from headend.drivers.dlt645.control import (
    RelayResult,
    broadcast_time,
    control_relay,
    read_meter_clock,
    set_meter_clock,
)
from headend.drivers.dlt645.reader import read_dlt645
from headend.drivers.modbus import ModbusAdapter
from headend.drivers.modbus.reader import ModbusLink, modbus_target, read_modbus
from headend.errors import BusClosed, ReadFailed
from headend.mqtt.bridge import MqttBridge
from headend.mqtt.messages import reading_to_json
from headend.units import UnitGate
from protocols.dlt645 import RelayAction
from storage.billing import BillingSource, frozen_points
from storage.errors import OutboxFull, StorageError, StorageFull
from storage.outbox import Outbox
from storage.records import EventRecord, FailureReason, Quality, Reading, ReadingKind, Severity
from storage.sink import Sink
from transports import create_transport
from transports.memory import MemoryNetwork

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
    backfill_interval: float = 3600.0
    """Seconds of engine-clock time between backfill passes (and one right after start)."""
    maintenance: bool = True
    """Run backfill passes and clock checks on their own; off when a caller drives them."""
    writer_limits: WriterLimits | None = None
    """RAM bound and overflow policy while storage refuses writes (``[storage]`` settings)."""
    audit_path: Path | None = None
    fleet_overlay_path: Path | None = None
    """Where fleet changes made at run time are kept across restarts (``fleet_overlay.py``)."""
    shutdown_grace: float = 10.0
    """Seconds reads in flight get to finish on ``stop()``."""


def _freeze_of_live(latest: Mapping[tuple[str, str], Reading], reading: Reading) -> bool:
    """A frozen value shares its register's name: it must not hide the live register value."""
    current = latest.get((reading.meter, reading.quantity))
    return (
        reading.kind is ReadingKind.FROZEN
        and current is not None
        and current.kind is not ReadingKind.FROZEN
    )


class Engine:
    def __init__(
        self,
        config: FleetConfig,
        sink: Sink,
        *,
        clock: Clock | None = None,
        memory: MemoryNetwork | None = None,
        options: EngineOptions | None = None,
        history: BillingSource | None = None,
    ) -> None:
        """``history`` (the store) lets backfill start from what is already stored."""
        self.config = config
        self.clock = clock or SystemClock()
        self.options = options or EngineOptions()
        self.registry = MeterRegistry(config)
        self.audit = AuditLog(self.options.audit_path, now=self.clock.now())
        self.fleet = FleetChanges(
            self.registry,
            FleetOverlay(self.options.fleet_overlay_path),
            self.audit,
            self.clock,
            toml_meters=config.meters,
            plan_quantities=self._plan_quantities,
            read=self._read_meter,
        )
        self.fleet.apply_overlay()
        self.health = MeterHealth(offline_after=self.options.offline_after)
        self.completeness = CompletenessTracker(config.timezone)
        self.alarms = AlarmBook()
        self.writer = RecordWriter(
            sink,
            interval=self.options.writer_interval,
            limits=self.options.writer_limits,
            on_state=self._storage_state_changed,
        )
        self._storage_alarm: str | None = None
        self.tz = ZoneInfo(config.timezone)
        self.backfill = FrozenBackfill(
            self.tz,
            self.completeness,
            timeout_of=lambda meter: config.channels[meter.channel].timeout,
        )
        self._history = history
        self.latest: dict[tuple[str, str], Reading] = {}
        self.units = UnitGate()
        """Every reading's unit is made canonical (or the reading refused) before anything
        stores, judges or shows it."""
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
        self.mqtt: MqttBridge | None = None
        if config.mqtt is not None:
            self.mqtt = MqttBridge(
                config.mqtt,
                transformer_of_device={
                    t.terminal: t.name for t in config.transformers.values() if t.terminal
                },
                # The bridge acknowledges a QoS 1 message once this returns: only on disk.
                on_readings=partial(self.publish, durable=True),
                on_request=self.answer_request,
            )
        self.ready = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._last_sweep: datetime | None = None
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
        meters = [m for m in self.registry if m.transformer and m.kind == LOAD_METER]
        lv_side = {
            m.id: m.transformer for m in self.registry if m.kind != LOAD_METER and m.transformer
        }
        left_out = sum(1 for m in self.registry if not m.transformer)
        if left_out:
            log.warning("anomaly detection skips %d meters without a transformer", left_out)
        transformers = list(self.config.transformers.values())
        layout_id = {t.name: t.terminal or t.name for t in transformers}
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
            transformer_devices={device: layout_id[t] for device, t in lv_side.items()},
        )

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Collect until ``stop()`` (graceful) or cancellation (abrupt; buffers still flush)."""
        try:
            async with asyncio.TaskGroup() as group:
                await self._recover_downtime()  # before the collectors take their first slots
                buses = [
                    group.create_task(worker.run(), name=f"bus {worker.name}")
                    for worker in self.workers.values()
                ]
                collectors = [
                    group.create_task(collector.run(), name=f"collector {collector.name}")
                    for collector in self.collectors.values()
                ]
                background = [group.create_task(self.writer.run(), name="writer")]
                if self.mqtt is not None:
                    background.append(group.create_task(self.mqtt.run(), name="mqtt"))
                maintenance = [group.create_task(self._sweep_loop(), name="anomaly sweep")]
                if self.options.maintenance:
                    maintenance.append(group.create_task(self._backfill_loop(), name="backfill"))
                    maintenance.append(group.create_task(self._clock_loop(), name="clock"))
                    maintenance.append(
                        group.create_task(self._clock_check_loop(), name="clock checks")
                    )
                self.ready.set()
                await self._stop_requested.wait()
                for task in maintenance:  # before the buses close, so none of them sees BusClosed
                    task.cancel()
                await self._wind_down(buses + collectors, background)
        finally:
            for worker in self.workers.values():
                worker.close()

    async def _recover_downtime(self) -> None:
        """Completeness from storage, and the slots missed while down
        (``headend.collection.downtime``); the backfill seed too, so the frozen days count again
        before anyone asks."""
        if self._history is None:
            return
        if self.options.maintenance:
            await self._seed_backfill()
        try:
            await recover(
                self._history,
                self.collectors.values(),
                self.completeness,
                self.clock.now(),
                self.tz,
                self.writer.sink.write,  # on disk before collection starts, not batched later
                record_gaps=await self._outbox_settled(),
            )
        except Exception as exc:  # collection must start even if the store cannot answer
            log.warning("cannot recover from downtime through storage: %s", exc)

    async def _outbox_settled(self) -> bool:
        """True once storage (read back from the server) holds everything the outbox kept from
        the last run; a gap recorded before that would overwrite readings still on their way."""
        sink = self.writer.sink
        if not isinstance(sink, Outbox):
            return True
        try:
            async with asyncio.timeout(downtime.OUTBOX_SETTLE_SECONDS):
                await sink.wait_drained()
        except TimeoutError:
            log.warning(
                "outbox still holds %d points of the last run: slots missed while the head-end "
                "was down are not recorded (headend_down) this time",
                sink.stats().pending_points,
            )
            return False
        return True

    def stop(self) -> None:
        """Graceful shutdown: no new reads, reads in flight finish, buffers flush."""
        self._stop_requested.set()

    async def _wind_down(
        self, bus_work: list[asyncio.Task[None]], background: list[asyncio.Task[None]]
    ) -> None:
        log.info("shutting down: finishing reads in flight")
        for collector in self.collectors.values():
            collector.stop()
        for worker in self.workers.values():
            worker.close()  # the job in flight finishes; queued ones end as "shutdown"
        try:
            async with asyncio.timeout(self.options.shutdown_grace):
                await asyncio.gather(*bus_work)
        except TimeoutError:
            log.warning("shutdown: reads still running after %.0f s", self.options.shutdown_grace)
        try:  # readings become live once stored: store them before MQTT drains
            async with asyncio.timeout(self.options.shutdown_grace):
                await self.writer.flush(final=True)
        except TimeoutError:
            log.warning("shutdown: storage still refusing writes; the writer keeps trying")
        if self.mqtt is not None:
            try:
                async with asyncio.timeout(2.0):
                    await self.mqtt.drain()
            except TimeoutError:
                log.warning("shutdown: live MQTT messages not all sent")
        for task in [*bus_work, *background]:
            task.cancel()  # the writer flushes what it holds as it is cancelled

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.clock.real_seconds(self.options.sweep_interval))
            self.sweep()

    def sweep(self) -> list[EventRecord]:
        """One anomaly sweep at the engine's current time; records go to storage.

        A wall clock stepped back (NTP) skips sweeps until it passes the last one: the event
        lifecycle needs time that only moves forward, and collection must not stop for it.
        """
        now = self.clock.now()
        if self._last_sweep is not None and now <= self._last_sweep:
            log.warning("clock went back to %s: anomaly sweep skipped", now.isoformat())
            return []
        self._last_sweep = now
        records = []
        for event in self.detector.sweep(now):
            records.append(self.alarms.anomaly(event, self._subject_tags(event.subject_id)))
        if records:
            self._record_events(records)
        return records

    def _subject_tags(self, subject: str) -> dict[str, str]:
        if subject in self.registry:
            return self.registry.get(subject).tags()
        return {}

    # -- readings ----------------------------------------------------------------------------

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
        readings = self.units.conform(readings)
        self.detector.ingest_many(readings)
        if durable and self.writer.stats.state is StorageState.OK:
            # While storage refuses writes (an open alarm says so) the caller is not kept
            # waiting for a commit that may be hours away: the readings are queued as usual.
            self._readings_stored(readings, then, await self.writer.store(readings))
            return
        self.writer.put(readings, partial(self._readings_stored, readings, then))

    def _readings_stored(
        self, readings: list[Reading], then: Callable[[bool], None] | None, stored: bool
    ) -> None:
        if stored:
            self._fan_out(readings)
        if then is not None:
            then(stored)

    def _fan_out(self, readings: list[Reading]) -> None:
        for reading in readings:
            if self.mqtt is not None:
                self.mqtt.publish_reading(reading)
            if reading.quality is not Quality.MISSING and not _freeze_of_live(self.latest, reading):
                self.latest[(reading.meter, reading.quantity)] = reading
            for queue in self._subscribers:
                if queue.full():
                    queue.get_nowait()  # a slow live viewer loses its oldest value, not ours
                queue.put_nowait(reading)

    def _record_events(self, records: list[EventRecord]) -> None:
        """Events go to storage and, once stored, to live MQTT consumers."""
        self.writer.put(records, partial(self._events_stored, records))

    def _events_stored(self, records: list[EventRecord], stored: bool) -> None:
        if self.mqtt is None or not stored:
            return
        for record in records:
            self.mqtt.publish(
                f"events/{record.meter}/{record.event}",
                {
                    "meter": record.meter,
                    "event": record.event,
                    "timestamp": record.timestamp.isoformat(),
                    "severity": record.severity.value,
                    "active": record.active,
                    "value": record.value,
                    "detail": record.detail,
                    "tags": dict(record.tags),
                },
            )

    async def answer_request(
        self, request: Mapping[str, Any], requester: str = "mqtt"
    ) -> Mapping[str, Any]:
        """On-demand requests arriving over MQTT: ``read`` and ``clock`` (never relay control:
        switching a supply needs the API's operator token and audit).

        The bridge has checked the requester's token and rate. Its work goes in the billing
        lane, never the control lane: MQTT requests share the bus with billing reads by weighted
        round robin instead of overtaking them without bound."""
        user = f"mqtt:{requester}"
        action = request.get("action")
        meter = request.get("meter")
        if not isinstance(meter, str):
            raise ValueError("request needs a 'meter' (text)")
        if action == "read":
            quantities = request.get("quantities")
            if quantities is not None and not (
                isinstance(quantities, list) and all(isinstance(q, str) for q in quantities)
            ):
                raise ValueError("'quantities' must be a list of quantity names")
            readings = await self.read_now(meter, quantities, lane=Lane.BILLING)
            return {"readings": [reading_to_json(r) for r in readings]}
        if action == "clock":
            return {"drift_seconds": await self.check_clock(meter, user=user, lane=Lane.BILLING)}
        raise ValueError(f"unknown action {action!r} (read, clock)")

    def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[Reading]:
        """A live feed of readings (dashboard, SSE); call ``unsubscribe`` when done."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Reading]) -> None:
        self._subscribers.discard(queue)

    def _storage_state_changed(self, state: StorageState, error: StorageError | None) -> None:
        """Storage refusing writes is an alarm: it says why, and closes when writes work again."""
        now = self.clock.now()
        if self._storage_alarm is not None:
            closed = self.alarms.meter_event(
                "storage",
                self._storage_alarm,
                active=False,
                at=now,
                detail="storage accepts writes again",
                severity=Severity.INFO,
                tags={},
            )
            self._storage_alarm = None
            self._record_events([closed])
        if state is StorageState.OK or error is None:
            return
        if isinstance(error, OutboxFull):
            kind = "outbox_full"
        elif isinstance(error, StorageFull):
            kind = "disk_full"
        else:
            kind = "storage_failing"
        self._storage_alarm = kind
        record = self.alarms.meter_event(
            "storage",
            kind,
            active=True,
            at=now,
            detail=f"{error} (buffering up to {self.writer.limits.limit} records, then "
            f"{self.writer.limits.overflow.value})",
            severity=Severity.CRITICAL,
            tags={},
        )
        self._record_events([record])

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
        self._record_events([record])

    # -- operator operations -----------------------------------------------------------------

    async def read_now(
        self,
        meter_id: str,
        quantities: Sequence[str] | None = None,
        *,
        lane: Lane = Lane.CONTROL,
    ) -> list[Reading]:
        """An operator's on-demand read: control lane, ahead of scheduled work (MQTT requests
        pass the billing lane)."""
        meter = self.registry.get(meter_id)
        wanted = tuple(quantities or self._plan_quantities(meter))
        self.registry.validate_quantities(meter, wanted, where=f"on-demand read of {meter.id}")
        return await self._read_meter(meter, wanted, lane)

    async def _read_meter(
        self, meter: MeterConfig, wanted: Sequence[str], lane: Lane = Lane.CONTROL
    ) -> list[Reading]:
        """Read ``meter`` as configured here (which may not be the registry's version of it:
        the final read of a replaced meter goes to its old address)."""
        slot = self.clock.now()
        action = self._read_factory(self.config.channels[meter.channel])(meter, wanted, slot)
        worker = self.workers[meter.channel]
        try:
            readings: list[Reading] = await worker.call(lane, f"on-demand {meter.id}", action)
        except ReadFailed as exc:
            change = self.health.failure(meter.id, exc.reason.value, slot)
            if change is not None:
                await self._health_changed(meter, change, exc.detail)
            raise
        change = self.health.success(meter.id)
        if change is not None:
            await self._health_changed(meter, change, "answered an on-demand read")
        await self.publish(readings, durable=True)
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

    def meter_now(self) -> datetime:
        """Site wall-clock time, what a meter's clock should show."""
        return self.clock.now().astimezone(self.tz)

    def _dlt645_meter(self, meter_id: str, what: str) -> tuple[MeterConfig, ChannelConfig]:
        meter = self.registry.get(meter_id)
        if not meter.protocol.startswith("dlt645"):
            raise ReadFailed(
                FailureReason.UNSUPPORTED, f"meter {meter_id}: {what} needs a DL/T 645 meter"
            )
        return meter, self.config.channels[meter.channel]

    async def relay(self, meter_id: str, action: RelayAction, user: str) -> RelayResult:
        """Trip or close a meter's supply relay; audited whatever the outcome."""
        meter, channel = self._dlt645_meter(meter_id, "relay control")
        command = f"relay {action.name.lower()}"
        # Durable before the order is even queued: a crash after the trip still names the user.
        intent = self.audit.begin(
            self.clock.now(), user, meter.id, command, f"address {meter.address}"
        )

        attempts = 0

        async def run(link: BusLink) -> RelayResult:
            nonlocal attempts
            attempts += 1  # the bus is open and ours: the order goes out now
            return await control_relay(
                link, meter, action, self.meter_now(), reply_timeout=channel.timeout
            )

        try:
            result: RelayResult = await self.workers[meter.channel].call(
                Lane.CONTROL, f"{command} {meter.id}", run
            )
        except BaseException as exc:  # the order may have reached the meter: still audited
            outcome, detail = _outcome_of_error(exc, sent=attempts > 0)
            self.audit.complete(intent, outcome, detail, at=self.clock.now())
            raise
        outcome = "ok" if result.verified else "unverified"
        detail = f"relay reads {result.state.value}"
        if result.read_back_error:
            detail += f" (acknowledged; read-back failed: {result.read_back_error})"
        self.audit.complete(intent, outcome, detail, at=self.clock.now())
        record = self.alarms.meter_event(
            meter.id,
            "relay_" + action.name.lower(),
            active=False,
            at=self.clock.now(),
            detail=f"{user}: {command}: relay {result.state.value} ({outcome})",
            severity=Severity.INFO if result.verified else Severity.WARNING,
            tags=meter.tags(),
        )
        self._record_events([record])
        return result

    async def check_clock(
        self, meter_id: str, *, user: str = "scheduler", lane: Lane | None = None
    ) -> float:
        """Read a meter's clock; set it when the drift exceeds the configured threshold.

        Returns the drift in seconds (meter minus head-end), also stored as a reading.
        """
        meter, channel = self._dlt645_meter(meter_id, "clock check")
        threshold = self.config.clock.drift_threshold

        async def run(link: BusLink) -> float:
            before = self.meter_now()
            shown = await read_meter_clock(link, meter, reply_timeout=channel.timeout)
            drift = (shown.replace(tzinfo=self.tz) - before).total_seconds()
            if abs(drift) > threshold:
                await self._set_clock(link, meter, channel, user, drift)
            return drift

        if lane is None:
            lane = Lane.CONTROL if user != "scheduler" else Lane.BILLING
        drift: float = await self.workers[meter.channel].call(lane, f"clock {meter.id}", run)
        reading = Reading(
            meter.id,
            "clock_drift",
            drift,
            "s",
            self.clock.now(),
            ReadingKind.STATE,
            tags=meter.tags(),
        )
        await self.publish([reading])
        return drift

    async def _set_clock(
        self, link: BusLink, meter: MeterConfig, channel: ChannelConfig, user: str, drift: float
    ) -> None:
        """Set a drifting clock, audited before the write goes out and after it is answered."""
        intent = self.audit.begin(
            self.clock.now(), user, meter.id, "clock set", f"drift was {drift:+.0f} s"
        )
        try:
            await set_meter_clock(link, meter, self.meter_now(), reply_timeout=channel.timeout)
        except BaseException as exc:
            outcome, detail = _outcome_of_error(exc, sent=True)
            self.audit.complete(intent, outcome, detail, at=self.clock.now())
            raise
        self.audit.complete(intent, "ok", f"drift was {drift:+.0f} s", at=self.clock.now())

    async def broadcast_time_sync(self, user: str = "scheduler") -> int:
        """Broadcast time sync on every DL/T 645 channel; returns how many buses got it.

        It sets every clock on the bus, so it is audited like any command that changes a
        meter: meter ``*``, the channel named in the detail."""
        sent = 0
        for name, channel in self.config.channels.items():
            if not channel.protocol.startswith("dlt645"):
                continue
            command = "broadcast time sync"
            intent = self.audit.begin(self.clock.now(), user, "*", command, f"channel {name}")

            times: list[datetime] = []

            async def run(link: BusLink, times: list[datetime] = times) -> None:
                times.append(self.meter_now())
                await broadcast_time(link, times[-1])

            try:
                await self.workers[name].call(Lane.BILLING, "broadcast time", run)
            except BaseException as exc:
                outcome, detail = _outcome_of_error(exc, sent=bool(times))
                self.audit.complete(intent, outcome, detail, at=self.clock.now())
                if not isinstance(exc, ReadFailed):
                    raise
                log.warning("channel %s: broadcast time sync failed: %s", name, exc)
                continue
            detail = f"channel {name}: sent {times[-1].isoformat(timespec='seconds')}"
            self.audit.complete(intent, "ok", detail, at=self.clock.now())
            sent += 1
        return sent

    async def _clock_loop(self) -> None:
        """Broadcast time sync once per ``broadcast_interval`` at interval boundaries (not at
        start: a restart must not put a fleet's clock work in front of the first telemetry)."""
        interval = self.config.clock.broadcast_interval
        while True:
            await self.clock.sleep_until(next_slot(self.clock.now(), interval))
            await self.broadcast_time_sync()

    async def _clock_check_loop(self) -> None:
        """Read every online DL/T 645 meter's clock once per ``check_interval``, the buses in
        parallel; a drifting meter gets its clock set (``check_clock``)."""
        interval = self.config.clock.check_interval
        while True:
            await self.clock.sleep_until(next_slot(self.clock.now(), interval))
            by_channel: dict[str, list[str]] = {}
            for meter in self.registry:
                if meter.protocol.startswith("dlt645") and not self.health.is_offline(meter.id):
                    by_channel.setdefault(meter.channel, []).append(meter.id)
            async with asyncio.TaskGroup() as group:
                for meter_ids in by_channel.values():
                    group.create_task(self._check_clocks(meter_ids))

    async def _check_clocks(self, meter_ids: list[str]) -> None:
        for meter_id in meter_ids:
            if meter_id not in self.registry:
                continue  # removed while the pass ran
            try:
                await self.check_clock(meter_id)
            except ReadFailed as exc:
                log.info("meter %s: clock check failed: %s", meter_id, exc.detail)
            except BusClosed:
                return
            except Exception:
                log.exception("meter %s: clock check crashed", meter_id)

    async def backfill_pass(self) -> list[Reading]:
        """Read missing daily frozen values of every meter whose plan wants them."""
        meters = [
            m
            for m in self.registry
            if m.protocol.startswith("dlt645") and self.config.plans[m.plan].daily_frozen
        ]
        windows = {m.id: self.config.plans[m.plan].backfill_days for m in meters}

        async def run(meter: MeterConfig, action: Any) -> FrozenDay:
            result: FrozenDay = await self.workers[meter.channel].call(
                Lane.BILLING, f"frozen {meter.id}", action
            )
            return result

        now = self.clock.now()
        by_channel: dict[str, list[MeterConfig]] = {}
        for meter in meters:
            by_channel.setdefault(meter.channel, []).append(meter)
        async with asyncio.TaskGroup() as group:  # buses work in parallel, meters in turn
            passes = [
                group.create_task(
                    self.backfill.run_pass(channel_meters, windows, now, run, self.publish)
                )
                for channel_meters in by_channel.values()
            ]
        return [reading for done in passes for reading in done.result()]

    async def _backfill_loop(self) -> None:
        while True:
            try:
                await self.backfill_pass()
            except Exception:  # a bug must not stop collection; the next pass tries again
                log.exception("backfill pass crashed")
            await asyncio.sleep(self.clock.real_seconds(self.options.backfill_interval))

    async def _seed_backfill(self) -> None:
        """Days whose frozen value is already stored need not be read again after a restart."""
        if self._history is None:
            return
        meters = [m.id for m in self.registry if self.config.plans[m.plan].daily_frozen]
        if not meters:
            return
        window = max(plan.backfill_days for plan in self.config.plans.values()) + 1
        now = self.clock.now()
        try:
            points = await frozen_points(
                self._history,
                meters,
                [FROZEN_TOTAL],
                now - timedelta(days=window),
                now + timedelta(days=1),
            )
        except Exception as exc:  # seeding saves bus time; without it backfill still works
            log.warning("backfill: cannot read stored frozen values: %s", exc)
            return
        for point in points:
            if point.value is not None:
                local_day = point.timestamp.astimezone(self.tz).date()
                self.backfill.mark_collected(point.meter, local_day)
        restore_frozen_days(self.completeness, points, self.tz)

    # -- fleet changes -----------------------------------------------------------------------

    def _meter_changed(self, meter_id: str, meter: MeterConfig | None) -> None:
        for collector in self.collectors.values():
            collector.set_meter(meter_id, None)
        if meter is not None:
            self.collectors[meter.channel].set_meter(meter_id, meter)
        # The layout is fixed-size numpy arrays: a fleet change rebuilds it. The new trackers
        # know nothing of open incidents, so those are closed here and raised again by the next
        # sweeps if their conditions still hold (fleet changes are rare).
        self.detector = AnomalyDetector(self._layout(), self.options.anomaly)
        self._last_sweep = None
        closed = self.alarms.close_rule_alarms(self.clock.now(), f"fleet changed ({meter_id})")
        if closed:
            self._record_events(closed)


def _outcome_of_error(error: BaseException, *, sent: bool) -> tuple[str, str]:
    """The audit outcome and detail of a command that raised ``error``.

    A command that never got the bus was not sent (``failed``); a refusal is certain; a lost
    or garbled reply, a lost link or anything unexpected after sending leaves open whether
    the meter acted (``unknown``)."""
    if isinstance(error, ReadFailed):
        detail = error.detail
        if error.reason is FailureReason.ERROR_RESPONSE:
            return "refused", detail
    else:
        detail = f"{type(error).__name__}: {error}"
    if not sent:
        return "failed", f"not sent: {detail}"
    return "unknown", detail
