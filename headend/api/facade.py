"""What the HTTP API may ask of the running head-end, and nothing more.

The routes, the live stream, the fleet overview and ``/metrics`` see the engine through this
class only: meters, the latest values of one meter, completeness, alarms, the operator
commands, the live feed, and the health and storage figures. The engine's parts stay free to
move without the API following them, and what the API can change is this list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from headend.anomaly.alarms import Alarm
from headend.anomaly.config import AnomalyConfig
from headend.anomaly.rules.loading import TransformerLoading
from headend.bus.worker import BusStats
from headend.collection.backfill import BackfillStats
from headend.collection.collector import CollectorStats
from headend.collection.completeness import CompletenessRow
from headend.collection.handoff import DailyHandoff
from headend.collection.kpi import daily_frozen_bus_meters
from headend.collection.terminal_parameters import TerminalParameters
from headend.collection.terminal_pull import TerminalCompleteness
from headend.collection.terminal_watch import ReadingStatus
from headend.collection.writer import WriterLimits, WriterStats
from headend.commands.archive_changes import exchange_meters, import_archive
from headend.commands.audit import AuditEntry
from headend.commands.register_edits import record_register_edit
from headend.commands.terminal_clock import TerminalClockCheck
from headend.commands.terminal_ports import PortAction
from headend.commands.terminal_switches import SwitchAction
from headend.config.fleet import ChannelConfig, MeterConfig, TransformerConfig
from headend.config.terminals import ConcentratorConfig, TerminalMeterConfig
from headend.drivers.dlt645.admin import AdminOrder
from headend.drivers.dlt645.control import RelayResult
from headend.engine import Engine
from headend.errors import HeadendError, UnknownMeter
from headend.incidents.notifier import NotificationStats
from headend.incidents.records import Incident
from headend.incidents.store import IncidentQuery
from headend.mqtt.bridge import MqttStats
from headend.terminals.errors import UnknownTerminal
from headend.units import UnitGate
from protocols.dlt645 import RelayAction
from storage.archive.diff import ArchiveDiff
from storage.archive.edits import RegisterEdit
from storage.archive.records import ArchiveMeter, MeterExchange
from storage.area.line_loss import LineLossLimits
from storage.errors import ArchiveError
from storage.records import Reading
from storage.sink import DeadLetterCounter


class BusGauge(Protocol):
    """One bus as ``/metrics`` sees it."""

    @property
    def stats(self) -> BusStats: ...

    def utilisation(self) -> float: ...

    def depth(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LoadingView:
    """The anomaly rules' transformer loading, with the row of each transformer device in it
    (both from the same detector: a fleet change replaces it)."""

    loading: TransformerLoading
    row_of: Mapping[str, int]


class HeadendFacade:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._terminal_meters: tuple[object, Mapping[str, TerminalMeterConfig]] = (None, {})

    @property
    def handoff(self) -> DailyHandoff | None:
        """The daily hand-off (``[handoff]``), or None when the fleet file has none."""
        return self._engine.handoff

    # -- the site ----------------------------------------------------------------------------

    @property
    def site(self) -> str:
        return self._engine.config.site

    @property
    def timezone(self) -> str:
        return self._engine.config.timezone

    @property
    def tz(self) -> ZoneInfo:
        return self._engine.tz

    @property
    def tariff_names(self) -> Mapping[int, str]:
        """``[site] tariff_names``: which tariff number is 尖/峰/平/谷 here."""
        return self._engine.config.tariff_names

    @property
    def line_loss_limits(self) -> LineLossLimits:
        """``[line_loss]``: the site's loss thresholds."""
        return self._engine.config.line_loss

    @property
    def transformers(self) -> Mapping[str, TransformerConfig]:
        return self._engine.config.transformers

    @property
    def channels(self) -> Mapping[str, ChannelConfig]:
        return self._engine.config.channels

    def collecting(self) -> bool:
        return self._engine.ready.is_set()

    def now(self) -> datetime:
        return self._engine.clock.now()

    def meter_now(self) -> datetime:
        """Site wall-clock time, what a meter's clock should show."""
        return self._engine.clock.now().astimezone(self._engine.tz)

    # -- meters ------------------------------------------------------------------------------

    def meters(self) -> Iterable[MeterConfig]:
        return iter(self._engine.registry)

    def meter_count(self) -> int:
        return len(self._engine.registry)

    def meter(self, meter_id: str) -> MeterConfig:
        """Raises ``UnknownMeter`` (a 404) for a meter the fleet does not know."""
        return self._engine.registry.get(meter_id)

    def meters_by_id(self) -> Mapping[str, MeterConfig]:
        return self._engine.registry.by_id()

    def daily_frozen_meters(self) -> list[MeterConfig]:
        """The bus meters due a daily frozen value (what the KPIs count)."""
        return daily_frozen_bus_meters(self._engine.registry, self._engine.config.plans)

    def block_reads(self, meter_id: str) -> dict[str, dict[str, object]]:
        """Block identifier -> whether the meter answers it (and what it did if not), as
        learned while collecting; empty until the meter was read."""
        learned = self._engine.block_support.of_meter(meter_id)
        return {
            block: {"supported": support.supported, "why": support.why or None}
            for block, support in sorted(learned.items())
        }

    def require_known(self, meter_id: str) -> None:
        """Raises ``UnknownMeter`` (a 404) unless a bus or a concentrator has the meter: the
        read-only paths (billing, latest values) serve both."""
        if meter_id not in self._engine.registry.by_id() and self.terminal_meter(meter_id) is None:
            raise UnknownMeter(meter_id)

    def validate_quantities(
        self, meter: MeterConfig, quantities: Sequence[str], where: str
    ) -> None:
        """Raises ``RegistryError`` naming ``where`` for a quantity the meter cannot give."""
        self._engine.registry.validate_quantities(meter, quantities, where=where)

    def is_offline(self, meter_id: str) -> bool:
        return self._engine.health.is_offline(meter_id)

    def last_reason(self, meter_id: str) -> str | None:
        return self._engine.health.last_reason(meter_id)

    def offline_meters(self) -> set[str]:
        return set(self._engine.health.offline_meters())

    # -- meters behind concentrators ------------------------------------------------------
    # Not in the registry (no bus of ours reads them): the fleet config's ``[[terminals]]``
    # and the frozen pull's own record of them.

    @property
    def terminals(self) -> Mapping[str, ConcentratorConfig]:
        return self._engine.config.terminals

    def terminal_meters(self) -> Mapping[str, TerminalMeterConfig]:
        """Every concentrator meter by id, built once per fleet config."""
        terminals = self._engine.config.terminals
        if self._terminal_meters[0] is not terminals:
            by_id = {m.id: m for t in terminals.values() for m in t.meters}
            self._terminal_meters = (terminals, by_id)
        return self._terminal_meters[1]

    def terminal_meter(self, meter_id: str) -> TerminalMeterConfig | None:
        return self.terminal_meters().get(meter_id)

    def terminal_online(self, name: str) -> bool:
        """Whether the terminal is logged in now (its meters are reached only through it)."""
        server = self._engine.terminal_server
        terminal = self._engine.config.terminals.get(name)
        return server is not None and terminal is not None and terminal.address in server.sessions

    def terminal_last_pull(self, name: str) -> datetime | None:
        pull = self._engine.frozen_pull
        return None if pull is None else pull.last_pull.get(name)

    def terminal_meter_last_day(self, meter_id: str) -> date | None:
        """The last day of the meter's frozen values the pull has stored."""
        pull = self._engine.frozen_pull
        return None if pull is None else pull.latest_day(meter_id)

    def terminal_archive_differences(self, name: str) -> int:
        pull = self._engine.frozen_pull
        return 0 if pull is None else len(pull.archive.get(name, ()))

    def terminal_clock(self, name: str) -> TerminalClockCheck | None:
        """The terminal's latest clock check (at login, daily, or asked for)."""
        clocks = self._engine.terminal_clocks
        return None if clocks is None else clocks.last.get(name)

    async def check_terminal_clock(self, name: str, user: str) -> TerminalClockCheck:
        clocks = self._engine.terminal_clocks
        if clocks is None:
            raise UnknownTerminal(name)
        return await clocks.check(name, user)

    async def terminal_port(
        self, name: str, port: int, action: PortAction, user: str, reason: str
    ) -> None:
        ports = self._engine.terminal_ports
        if ports is None:
            raise UnknownTerminal(name)
        await ports.command(name, port, action, user, reason)

    async def terminal_switch(
        self,
        name: str,
        turn: int,
        action: SwitchAction,
        user: str,
        reason: str,
        *,
        limit_half_hours: int = 0,
        alarm_delay_minutes: int = 0,
    ) -> None:
        switches = self._engine.terminal_switches
        if switches is None:
            raise UnknownTerminal(name)
        await switches.command(
            name,
            turn,
            action,
            user,
            reason,
            limit_half_hours=limit_half_hours,
            alarm_delay_minutes=alarm_delay_minutes,
        )

    def terminal_parameters(self, name: str) -> TerminalParameters | None:
        """The terminal's AFN 0A F1/F3 parameters, read back at its last login."""
        watch = self._engine.terminal_watch
        return None if watch is None else watch.parameters.get(name)

    def terminal_reading_status(self, name: str) -> ReadingStatus | None:
        """The terminal's last AFN 0C F11 answer (asked after each pull pass)."""
        watch = self._engine.terminal_watch
        return None if watch is None else watch.reading_status.get(name)

    def terminal_completeness(self, day: date) -> Mapping[str, TerminalCompleteness]:
        """The frozen pull's own figures per terminal over the days it keeps before ``day``."""
        pull = self._engine.frozen_pull
        return {} if pull is None else pull.completeness(day)

    # -- live values -------------------------------------------------------------------------

    def latest_of(self, meter_id: str) -> list[Reading]:
        """One meter's latest values by quantity name, from its own index (never the fleet's)."""
        values = self._engine.live.latest.of_meter(meter_id)
        return [values[quantity] for quantity in sorted(values)]

    def latest_encoded(self, meter_id: str, encode: Callable[[list[Reading]], bytes]) -> bytes:
        """``encode`` of one meter's latest values in quantity order, made once per change of
        them (``LatestValues.encoded_of``: pass the same ``encode`` every time)."""
        return self._engine.live.latest.encoded_of(meter_id, encode)

    def latest_encoded_fleet(
        self,
        encode: Callable[[list[Reading]], bytes],
        join: Callable[[list[bytes]], bytes],
    ) -> bytes:
        """``join`` of ``latest_encoded`` of every meter with values, in meter id order, kept
        until the next value (``LatestValues.encoded_fleet``)."""
        return self._engine.live.latest.encoded_fleet(encode, join)

    def latest_meters(self) -> list[str]:
        """The meters with latest values, in id order (kept sorted, not sorted per call)."""
        return list(self._engine.live.latest.meters())

    def latest(self, meter_id: str, quantity: str) -> Reading | None:
        return self._engine.live.latest.of_meter(meter_id).get(quantity)

    @property
    def latest_values(self) -> Mapping[tuple[str, str], Reading]:
        """Every latest value by (meter, quantity): the fleet overview's figures."""
        return self._engine.live.latest

    def subscribe(self) -> asyncio.Queue[Reading]:
        """A live feed of readings; call ``unsubscribe`` when done."""
        return self._engine.live.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[Reading]) -> None:
        self._engine.live.unsubscribe(queue)

    # -- completeness and alarms -------------------------------------------------------------

    def completeness_rows(self, day: date, group_by: str) -> list[CompletenessRow]:
        """Expected vs received for ``day`` by meter, channel, transformer or building."""
        meters = self._engine.registry.by_id()

        def group_of(meter_id: str) -> str | None:
            meter = meters.get(meter_id)
            if meter is None:
                return None
            if group_by == "meter":
                return meter.id
            value: str | None = getattr(meter, group_by)
            return value

        return self._engine.completeness.rollup(day, group_of)

    def open_alarms(self) -> list[Alarm]:
        return self._engine.alarms.open_alarms()

    def recent_alarms(self) -> list[Alarm]:
        return self._engine.alarms.recent()

    def acknowledge(self, alarm_id: str, user: str) -> Alarm:
        return self._engine.alarms.acknowledge(alarm_id, user, self._engine.clock.now())

    # -- incidents (docs/incidents.md) ---------------------------------------------------------

    def active_incidents(self) -> list[Incident]:
        return self._engine.incidents.active()

    def incidents_version(self) -> int:
        """Changes whenever the open or acknowledged list does (the live stream's cue)."""
        return self._engine.incidents.version

    def search_incidents(self, query: IncidentQuery) -> tuple[int, list[Incident]]:
        return self._engine.incidents.search(query)

    def incident(self, incident_id: str) -> Incident:
        return self._engine.incidents.get(incident_id)

    def acknowledge_incident(self, incident_id: str, user: str, note: str) -> Incident:
        """Audited (fsync'd) before it acts, answered once the store has it on disk."""
        desk, audit, now = self._engine.incidents, self._engine.audit, self._engine.clock.now()
        desk.get(incident_id)  # an unknown id is a 404, not an audited attempt
        intent = audit.begin(now, user, incident_id, "incident acknowledge", note)
        try:
            incident = desk.acknowledge(incident_id, user, note)
        except HeadendError as exc:
            audit.complete(intent, "refused", str(exc), at=self._engine.clock.now())
            raise
        audit.complete(intent, "ok", at=self._engine.clock.now())
        return incident

    def notification_stats(self) -> Mapping[str, NotificationStats]:
        notifier = self._engine.incidents.notifier
        return {} if notifier is None else notifier.stats

    def incident_store_errors(self) -> int:
        return self._engine.incidents.store_errors

    @property
    def anomaly_rules(self) -> AnomalyConfig:
        return self._engine.detector.config

    def transformer_loading(self) -> LoadingView:
        detector = self._engine.detector
        return LoadingView(detector.transformer_loading(), detector.layout.transformer_index)

    # -- commands ----------------------------------------------------------------------------

    async def read_now(self, meter_id: str, quantities: Sequence[str] | None) -> list[Reading]:
        forwarded = self._engine.forwarded
        if forwarded is not None and forwarded.knows(meter_id):  # behind a terminal: AFN 10
            return await forwarded.read_now(meter_id, quantities)
        return await self._engine.operations.read_now(meter_id, quantities)

    async def relay(
        self, meter_id: str, action: RelayAction, user: str, reason: str = ""
    ) -> RelayResult:
        forwarded = self._engine.forwarded
        if forwarded is not None and forwarded.knows(meter_id):
            return await forwarded.relay(meter_id, action, user, reason)
        return await self._engine.operations.relay(meter_id, action, user, reason)

    async def admin_order(
        self,
        meter_id: str,
        order: AdminOrder,
        user: str,
        *,
        confirm: str | None,
        reason: str = "",
        new_password: str | None = None,
    ) -> str:
        forwarded = self._engine.forwarded
        if forwarded is not None and forwarded.knows(meter_id):  # behind a terminal: AFN 10
            return await forwarded.admin_order(
                meter_id, order, user, confirm=confirm, reason=reason, new_password=new_password
            )
        return await self._engine.admin.run(
            meter_id, order, user, confirm=confirm, reason=reason, new_password=new_password
        )

    async def check_clock(self, meter_id: str, user: str) -> float:
        forwarded = self._engine.forwarded
        if forwarded is not None and forwarded.knows(meter_id):
            return await forwarded.check_clock(meter_id, user)
        return await self._engine.clocks.check_clock(meter_id, user=user)

    async def broadcast_time_sync(self, user: str) -> int:
        return await self._engine.clocks.broadcast_time_sync(user=user)

    @property
    def archive_path(self) -> Path | None:
        """The meter archive file (exchanges, edits); None when the head-end runs without."""
        return self._engine.archive_path

    def edit_register(self, edit: RegisterEdit) -> RegisterEdit:
        """Audit and keep an operator's edit of a read (``commands.register_edits``)."""
        path = self._engine.archive_path
        if path is None:
            raise ArchiveError("no archive file: this head-end runs without a data dir")
        return record_register_edit(self._engine.audit, path, edit, self._engine.clock.now())

    def import_archive(self, meters: Sequence[ArchiveMeter], user: str, source: str) -> ArchiveDiff:
        """Audit and import an archive file (``commands.archive_changes``)."""
        return import_archive(
            self._engine.audit,
            self._require_archive(),
            meters,
            user=user,
            now=self._engine.clock.now(),
            source=source,
        )

    def exchange_meters(
        self, exchange: MeterExchange, new_address: str | None, user: str
    ) -> ArchiveMeter:
        """Audit and record a meter exchange (``commands.archive_changes``)."""
        return exchange_meters(
            self._engine.audit,
            self._require_archive(),
            exchange,
            new_address=new_address,
            user=user,
            now=self._engine.clock.now(),
        )

    def _require_archive(self) -> Path:
        path = self._engine.archive_path
        if path is None:
            raise ArchiveError("no archive file: this head-end runs without a data dir")
        return path

    def audit_entries(self, meter: str | None, *, limit: int, offset: int) -> list[AuditEntry]:
        return self._engine.audit.recent(meter, limit=limit, offset=offset)

    async def change_meter(self, meter: MeterConfig, user: str, replaces: str | None) -> None:
        await self._engine.fleet.change(meter, user, replaces=replaces)

    async def remove_meter(self, meter_id: str, user: str) -> None:
        await self._engine.fleet.remove(meter_id, user)

    # -- health and storage figures (``/metrics``) --------------------------------------------

    def collection_stats(self) -> Mapping[str, CollectorStats]:
        return {name: c.stats for name, c in self._engine.collectors.items()}

    def buses(self) -> Mapping[str, BusGauge]:
        return self._engine.workers

    @property
    def writer_stats(self) -> WriterStats:
        return self._engine.writer.stats

    @property
    def writer_limits(self) -> WriterLimits:
        return self._engine.writer.limits

    def sink_dead_letters(self) -> int | None:
        """Dead letters the sink set aside; None for a sink that does not count them."""
        sink = self._engine.writer.sink
        return sink.dead_letters if isinstance(sink, DeadLetterCounter) else None

    @property
    def backfill_stats(self) -> BackfillStats:
        return self._engine.backfill.stats

    @property
    def units(self) -> UnitGate:
        return self._engine.units

    @property
    def mqtt_stats(self) -> MqttStats | None:
        return None if self._engine.mqtt is None else self._engine.mqtt.stats
