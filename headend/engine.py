"""The composition root of the running head-end: build the parts, wire them, run and stop them.

It owns the registry of meters, one bus worker + collector per channel, the record writer in
front of storage, the anomaly sweeps, the alarm book and (optionally) the MQTT bridge, all
inside one TaskGroup so a shutdown finishes in-flight requests and flushes buffers in order.
What the parts do lives with them (docs/engine.md, *Where things live*): the readings fan-out
in ``collection.live``, the operator commands in ``commands``, backfill passes in
``collection.backfill_passes``, MQTT requests in ``mqtt.requests``. The HTTP API sees the
engine through ``headend.api.facade.HeadendFacade`` only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from headend.anomaly import AnomalyDetector
from headend.anomaly.alarms import AlarmBook
from headend.anomaly.config import AnomalyConfig
from headend.bus.backoff import Backoff
from headend.bus.worker import BusPolicy, BusWorker
from headend.clock import Clock, SystemClock
from headend.collection.backfill import FrozenBackfill
from headend.collection.backfill_passes import BackfillPasses
from headend.collection.block_support_file import open_book
from headend.collection.collector import BusAction, ChannelCollector
from headend.collection.completeness import CompletenessTracker
from headend.collection.downtime import outbox_settled, recover
from headend.collection.event_pointers import EventPointers
from headend.collection.handoff import handoff_for
from headend.collection.health import MeterHealth
from headend.collection.kpi_snapshots import snapshots_for
from headend.collection.live import LiveReadings
from headend.collection.overlay import FleetOverlay
from headend.collection.registry import MeterRegistry
from headend.collection.state_alarms import StateAlarms
from headend.collection.sweeps import AnomalySweeps
from headend.collection.terminal_events import TerminalEvents
from headend.collection.terminal_history import history_pull
from headend.collection.terminal_pull import FrozenPull
from headend.collection.terminal_sessions import TerminalSessions
from headend.collection.terminal_watch import TerminalWatch
from headend.collection.writer import RecordWriter, WriterLimits
from headend.commands.admin import AdminCommands
from headend.commands.audit import AuditLog
from headend.commands.clock import ClockCommands
from headend.commands.context import CommandContext
from headend.commands.fleet_changes import FleetChanges
from headend.commands.forwarded import ForwardedMeters
from headend.commands.operations import Operations
from headend.commands.terminal_clock import TerminalClocks
from headend.commands.terminal_context import TerminalCommandContext
from headend.commands.terminal_ports import TerminalPorts
from headend.commands.terminal_switches import TerminalSwitches
from headend.config.fleet import ChannelConfig, FleetConfig, MeterConfig
from headend.drivers.dlt645.security_module import SecurityModule
from headend.drivers.registry import DRIVERS, driver_for
from headend.gc_tuning import paused_gc, tuned_for_collection
from headend.incidents.desk import IncidentDesk, load_from, topology_of
from headend.incidents.notifier import Notifier, Webhook
from headend.mqtt.bridge import MqttBridge
from headend.mqtt.requests import MqttRequests
from headend.terminals import TerminalServer
from headend.units import UnitGate
from storage.billing import BillingSource
from storage.sink import Sink
from transports.dial_in_listener import DialInListener
from transports.memory import MemoryNetwork

log = logging.getLogger(__name__)


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
    block_support_path: Path | None = None
    """Where the block reads each meter answered or refused are kept across restarts."""
    shutdown_grace: float = 10.0
    """Seconds reads in flight get to finish on ``stop()``."""
    security: SecurityModule | None = None
    """The security module of secured control (built from ``[security]`` by the service)."""
    kpi_path: Path | None = None
    """Where the daily collection KPIs are kept (``kpi.sqlite``); None: no snapshots."""
    terminal_events_path: Path | None = None
    """How far each concentrator's event rings were read (``terminal-events.json``)."""
    archive_path: Path | None = None
    """The meter archive (``<data-dir>/archive.sqlite``): exchanges and edits for VEE, and the
    transformer, building and in-service dates the KPIs read."""
    handoff_dir: Path | None = None
    """Where the daily hand-off keeps its ledger (the data dir); None: no hand-off."""
    handoff_authorization: str | None = None
    """The hand-off webhook's Authorization header (read from ``[handoff] authorization_env``)."""
    incidents_dir: Path | None = None
    """Where ``incidents.sqlite`` (the incidents and their history) is kept; None: in memory."""
    webhooks: Sequence[Webhook] = ()
    """Incident notifications (``[notify]``, URLs read from the environment by the service)."""


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
        self.options = options = options or EngineOptions()
        self.tz = ZoneInfo(config.timezone)
        self._history = history
        self._memory = memory
        self.dial_in: DialInListener | None = None
        """The listener ``dialin://`` channels' DTUs call (``[dial_in]``), if any channel is one."""
        if any(c.url.lower().startswith("dialin:") for c in config.channels.values()):
            self.dial_in = DialInListener(
                config.dial_in.host,
                config.dial_in.port,
                (),
                registration_timeout=config.dial_in.registration_timeout,
                idle_timeout=config.dial_in.idle_timeout,
            )
        self.registry = MeterRegistry(config)
        self.block_support, self._block_support_saver = open_book(options.block_support_path)
        for driver in DRIVERS.values():
            driver.use_block_support(self.block_support)
        self.audit = AuditLog(options.audit_path, now=self.clock.now())
        self.archive_path = options.archive_path
        self.health = MeterHealth(offline_after=options.offline_after)
        self.completeness = CompletenessTracker(config.timezone)
        self.alarms = AlarmBook()
        # Two parts are built below the ones that call them, so those calls are late-bound: the
        # writer reports storage state to the state alarms (which record through the fan-out),
        # and the fan-out feeds the sweeps' current detector (the sweeps record through it).
        self.writer = RecordWriter(
            sink,
            interval=options.writer_interval,
            limits=options.writer_limits,
            on_state=lambda state, error: self.state_alarms.storage_state_changed(state, error),
        )
        self.units = UnitGate()
        """Every reading's unit is made canonical (or the reading refused) before anything
        stores, judges or shows it."""
        self.live = LiveReadings(
            self.writer, units=self.units, ingest=lambda readings: self.sweeps.ingest(readings)
        )
        self.state_alarms = StateAlarms(
            self.alarms,
            self.clock,
            record_events=self.live.record_events,
            writer_limits=self.writer.limits,
        )
        self.workers: dict[str, BusWorker[Any]] = {
            channel.name: self._worker(channel) for channel in config.channels.values()
        }
        commands = CommandContext(
            config,
            self.registry,
            self.workers,
            self.clock,
            self.tz,
            self.audit,
            self.alarms,
            self.live,
            security=options.security,
        )
        self.operations = Operations(
            commands,
            read_factory=self._read_factory,
            health=self.health,
            on_health=self.state_alarms.health_changed,
        )
        self.clocks = ClockCommands(commands, health=self.health)
        self.fleet = FleetChanges(
            self.registry,
            FleetOverlay(options.fleet_overlay_path),
            self.audit,
            self.clock,
            toml_meters=config.meters,
            plan_quantities=self.operations.plan_quantities,
            read=self.operations.read_meter,
        )
        self.admin = AdminCommands(commands, self.fleet)
        self.fleet.apply_overlay()
        self.backfill = FrozenBackfill(
            self.tz,
            self.completeness,
            timeout_of=lambda meter: config.channels[meter.channel].timeout,
        )
        self.backfill_passes = BackfillPasses(
            self.backfill,
            config=config,
            registry=self.registry,
            workers=self.workers,
            clock=self.clock,
            completeness=self.completeness,
            publish=self.live.publish,
            interval=options.backfill_interval,
            record_events=self.live.record_events,
        )
        self.terminal_server: TerminalServer | None = None
        self.frozen_pull: FrozenPull | None = None
        self.forwarded: ForwardedMeters | None = None
        """On-demand reads and relay orders of the terminals' meters (AFN 10 forwarding)."""
        self.terminal_clocks: TerminalClocks | None = None
        self.terminal_ports: TerminalPorts | None = None
        self.terminal_switches: TerminalSwitches | None = None
        self.terminal_watch: TerminalWatch | None = None
        self.terminal_sessions: TerminalSessions | None = None
        """A concentrator's session lost is an alarm (``terminal_offline``)."""
        if config.terminals:  # a master station for concentrators that dial in
            self.terminal_server = TerminalServer(
                host=config.master.host,
                port=config.master.port,
                heartbeat_periods={t.address: t.heartbeat for t in config.terminals.values()},
                login_timeout=config.master.login_timeout,
                window=config.master.window,
            )
            # The terminals' events become alarms (pushed ones through the server's callback).
            events = TerminalEvents(
                self.alarms,
                config.terminals,
                config.master,
                self.tz,
                self.clock,
                record_events=self.live.record_events,
                pointers=EventPointers(options.terminal_events_path),
            )
            self.terminal_server.on_report = events.on_report
            server_now = self.terminal_server
            self.terminal_sessions = TerminalSessions(
                self.alarms,
                config.terminals,
                lambda: server_now.sessions,
                self.clock,
                self.live.record_events,
            )
            self.terminal_watch = TerminalWatch(
                events, self.alarms, config.master, self.tz, self.clock, self.live.record_events
            )
            server, audit = self.terminal_server, self.audit
            terminal_commands = TerminalCommandContext(
                server, config.terminals, config.master, audit, self.clock, self.tz
            )
            self.terminal_clocks = TerminalClocks(
                terminal_commands, config.clock.drift_threshold, config.clock.check_interval
            )
            self.terminal_ports = TerminalPorts(terminal_commands)
            self.terminal_switches = TerminalSwitches(terminal_commands)
            self.frozen_pull = FrozenPull(
                self.terminal_server,
                config.terminals,
                config.master,
                self.tz,
                self.live.publish,
                on_login=self.terminal_clocks.on_login,
                watch=self.terminal_watch,
                history=history_pull(config.master, self.tz, self.live.publish),
            )
            self.forwarded = ForwardedMeters(
                commands, self.terminal_server, config.terminals, config.master
            )
        self.kpi_snapshots = snapshots_for(
            config,
            self.registry,
            history,
            self.clock,
            options.kpi_path,
            options.archive_path,
            options.backfill_interval,
        )
        self.handoff = handoff_for(
            config,
            history,
            self.clock,
            options.handoff_dir,
            self.kpi_snapshots,
            self.registry,
            options.archive_path,
            options.handoff_authorization,
        )
        """The daily hand-off to a folder or webhook (``[handoff]``), if configured."""
        self.collectors: dict[str, ChannelCollector] = {
            channel.name: ChannelCollector(
                worker=self.workers[channel.name],
                plans=dict(config.plans),
                clock=self.clock,
                read_factory=self._read_factory(channel),
                on_readings=self.live.publish,
                put_readings=self.live.put,
                on_health=self.state_alarms.health_changed,
                health=self.health,
                completeness=self.completeness,
                jitter=options.jitter,
            )
            for channel in config.channels.values()
        }
        self.sweeps = AnomalySweeps(
            self.registry,
            config,
            alarms=self.alarms,
            clock=self.clock,
            record_events=self.live.record_events,
            rules=options.anomaly,
            interval=options.sweep_interval,
        )
        self.incidents = IncidentDesk(
            topology_of(self.registry, config),
            self.alarms.recent,
            self.clock.now,
            data_dir=options.incidents_dir,
            notifier=Notifier(
                options.webhooks,
                self.tz,
                min_severity=config.notify.min_severity,
                queue_size=config.notify.queue,
            ),
            load_of=load_from(self.live.latest),
        )
        """Alarms grouped by shared cause, kept and notified (docs/incidents.md)."""
        self.mqtt_requests = MqttRequests(self.operations, self.clocks)
        self.mqtt: MqttBridge | None = None
        if config.mqtt is not None:
            self.mqtt = MqttBridge(
                config.mqtt,
                transformer_of_device={
                    t.terminal: t.name for t in config.transformers.values() if t.terminal
                },
                # The bridge acknowledges a QoS 1 message from the stored-callback: on disk.
                store_readings=self.live.put,
                on_request=self.mqtt_requests,
            )
            self.live.outlet = self.mqtt
        self.ready = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self.registry.on_change(self._meter_changed)
        with paused_gc():  # every meter's schedule: see headend.gc_pause
            for meter in self.registry:
                self.collectors[meter.channel].set_meter(meter.id, meter)

    @property
    def detector(self) -> AnomalyDetector:
        """The current anomaly detector (a fleet change replaces it)."""
        return self.sweeps.detector

    # -- construction ------------------------------------------------------------------------

    def _worker(self, channel: ChannelConfig) -> BusWorker[Any]:
        policy = BusPolicy(
            retries=channel.retries,
            retry_backoff=Backoff(channel.retry_backoff, max(channel.retry_backoff, 5.0)),
            reconnect_backoff=Backoff(1.0, channel.reconnect_backoff_max),
        )
        connection = driver_for(channel.protocol).connection(channel, self._memory, self.dial_in)
        return BusWorker(channel.name, connection, policy)

    def _read_factory(self, channel: ChannelConfig) -> Any:
        def factory(meter: MeterConfig, quantities: Sequence[str], slot: Any) -> BusAction:
            return driver_for(meter.protocol).read_action(channel, meter, quantities, slot)

        return factory

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
                if self.terminal_server is not None:
                    background.append(group.create_task(self.terminal_server.run(), name="master"))
                if self.forwarded is not None:
                    background.append(group.create_task(self.forwarded.run(), name="forwarding"))
                if self.dial_in is not None:
                    background.append(group.create_task(self.dial_in.run(), name="dial-in"))
                maintenance = [group.create_task(self.sweeps.loop(), name="anomaly sweep")]
                maintenance.append(group.create_task(self.incidents.loop(), name="incidents"))
                if self.terminal_sessions is not None:
                    sessions = self.terminal_sessions.loop()
                    maintenance.append(group.create_task(sessions, name="terminal sessions"))
                if self.incidents.notifier is not None:
                    notify = self.incidents.notifier.run()
                    maintenance.append(group.create_task(notify, name="notifier"))
                if self.options.maintenance:
                    maintenance.append(
                        group.create_task(self.backfill_passes.loop(), name="backfill")
                    )
                    maintenance.append(
                        group.create_task(self.clocks.broadcast_loop(), name="clock")
                    )
                    if self.frozen_pull is not None:
                        pull = self.frozen_pull.run(self.clock.now, self.clock.real_seconds)
                        maintenance.append(group.create_task(pull, name="frozen pull"))
                    if self.terminal_clocks is not None:
                        checks = self.terminal_clocks.loop()
                        maintenance.append(group.create_task(checks, name="terminal clocks"))
                    maintenance.append(
                        group.create_task(self.clocks.check_loop(), name="clock checks")
                    )
                    if self.kpi_snapshots is not None:
                        snapshots = self.kpi_snapshots.loop()
                        maintenance.append(group.create_task(snapshots, name="kpi snapshots"))
                    if self.handoff is not None:
                        handoff = self.handoff.loop()
                        maintenance.append(group.create_task(handoff, name="daily hand-off"))
                        if self.handoff.webhook is not None:
                            posts = self.handoff.webhook.loop()
                            maintenance.append(group.create_task(posts, name="hand-off webhook"))
                with tuned_for_collection():  # see headend.gc_tuning
                    self.ready.set()
                    await self._stop_requested.wait()
                    for task in maintenance:  # before the buses close: none of them sees BusClosed
                        task.cancel()
                    await self._wind_down(buses + collectors, background)
        finally:
            for worker in self.workers.values():
                worker.close()
            if self.forwarded is not None:
                self.forwarded.close()
            if self._block_support_saver is not None:
                await self._block_support_saver.aclose()
            self.incidents.close()

    async def _recover_downtime(self) -> None:
        """Completeness from storage, and the slots missed while down
        (``headend.collection.downtime``); the backfill seed too, so the frozen days count again
        before anyone asks."""
        if self._history is None:
            return
        if self.options.maintenance:
            await self.backfill_passes.seed(self._history)
            if self.frozen_pull is not None:
                await self.frozen_pull.seed(self._history, self.clock.now())
        try:
            await recover(
                self._history,
                self.collectors.values(),
                self.completeness,
                self.clock.now(),
                self.tz,
                self.writer.sink.write,  # on disk before collection starts, not batched later
                record_gaps=await outbox_settled(self.writer.sink),
            )
        except Exception as exc:  # collection must start even if the store cannot answer
            log.warning("cannot recover from downtime through storage: %s", exc)

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

    # -- fleet changes -----------------------------------------------------------------------

    def _meter_changed(self, meter_id: str, meter: MeterConfig | None) -> None:
        self.block_support.forget(meter_id)
        for collector in self.collectors.values():
            collector.set_meter(meter_id, None)
        if meter is not None:
            self.collectors[meter.channel].set_meter(meter_id, meter)
        self.sweeps.fleet_changed(meter_id)
        self.incidents.topology_changed(topology_of(self.registry, self.config))
