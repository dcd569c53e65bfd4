"""The fleet configuration: channels (buses), transformers, meters and read plans, from TOML.

Validated completely at load, so a wrong address or a meter on an unknown channel is reported
with file and key before any bus is opened, not discovered at 03:00 by a failing backfill.
Each table is a pydantic model (``FleetFile`` and the ``*Table`` models here and beside this
module); the loader then checks what crosses tables (a meter's channel, plan, transformer, its
address on the bus) and returns the frozen dataclasses the head-end runs with.
docs/configuration.md describes the file.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import tomli
from pydantic import AfterValidator, Field, ValidationError, model_validator

from headend.bus.lanes import Lane
from headend.bus.link import DEFAULT_INTER_FRAME_GAP
from headend.config.api import ApiTable
from headend.config.archive_table import ArchiveTable, check_archive_table
from headend.config.dial_in import DialInConfig, DialInTable, dial_in_channels, dial_in_config
from headend.config.errors import ConfigError, KeyProblem, from_validation_error, meter_label
from headend.config.fields import Duration, FileModel, Instant, Number, TagText
from headend.config.handoff import HandoffConfig, HandoffTable, handoff_config
from headend.config.line_loss import LineLossTable, line_loss_limits
from headend.config.meter_table import MeterTable, ProtocolName
from headend.config.mqtt import MqttConfig, MqttTable, mqtt_config
from headend.config.notify import NotifyTable
from headend.config.security import SecurityTable
from headend.config.storage import EmbeddedStorage, StorageConfig
from headend.config.terminals import (
    ConcentratorConfig,
    MasterConfig,
    MasterTable,
    TerminalTable,
    master_config,
    terminal_configs,
)
from headend.drivers.registry import DEFAULT_PROTOCOL, driver_for
from headend.gc_tuning import paused_gc
from storage.area.line_loss import DEFAULT_LIMITS as DEFAULT_LINE_LOSS
from storage.area.line_loss import LineLossLimits
from storage.errors import RecordError
from storage.line_protocol import validate_tag_value
from storage.tariffs import DEFAULT_TARIFF_NAMES, MAX_TARIFF, TARIFF_NAMES
from transports import DialInSettings, InvalidTransportUrl, parse_transport_url

if TYPE_CHECKING:
    # headend.anomaly brings numpy: imported only when a file has an [anomaly] table.
    from headend.anomaly.config import AnomalyConfig

PROTOCOL_KEYS = ("address", "unit_id", "register_map")
"""How a meter is addressed on its bus; its driver says which of them its protocol uses."""
LOAD_METER = "load"
TRANSFORMER_LV_METER = "transformer_lv"
METER_KINDS = (LOAD_METER, TRANSFORMER_LV_METER)
"""A load meter (household, pile, pump room) is part of its transformer's load; a
``transformer_lv`` meter measures the transformer itself on its LV side, like its terminal."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One bus: a serial port, or a TCP gateway (DTU) in front of one RS-485 bus."""

    name: str
    url: str
    protocol: str
    timeout: float = 1.0
    """Seconds to wait for a reply (DL/T 645 allows 20-500 ms; gateways add latency)."""
    inter_frame_gap: float = DEFAULT_INTER_FRAME_GAP
    """Silence kept between frames so slow meters see the end of the previous one."""
    retries: int = 2
    retry_backoff: float = 0.2
    reconnect_backoff_max: float = 60.0


@dataclass(frozen=True, slots=True)
class TransformerConfig:
    name: str
    rated_kva: float
    terminal: str | None = None
    """Device name the transformer terminal uses in its MQTT telemetry, if it has one."""


@dataclass(frozen=True, slots=True)
class ReadSpec:
    quantities: tuple[str, ...]
    interval: float
    lane: Lane


@dataclass(frozen=True, slots=True)
class PlanConfig:
    name: str
    reads: tuple[ReadSpec, ...]
    daily_frozen: bool = False
    """Read yesterday's frozen energy after midnight (the billing value)."""
    backfill_days: int = 7
    """How far back missing days are re-read from the meter's frozen records."""
    events: tuple[str, ...] = ()
    """Event logs read from the meter in the backfill passes (DL/T 645 ``cover_open``...)."""
    load_profile_hours: int = 0
    """Missed interval reads of the last N hours are re-read from the meter's load profile
    (DL/T 645-2007 06xxxxxx) in the backfill passes; 0: never."""


@dataclass(frozen=True, slots=True)
class MeterConfig:
    id: str
    channel: str
    protocol: str
    plan: str
    address: str | None = None
    """12-digit DL/T 645 address as printed on the nameplate."""
    unit_id: int | None = None
    """Modbus unit id."""
    register_map: str | None = None
    energy_base: int | None = None
    """Where this Modbus meter's energy block starts, when its firmware moved it (the map's
    ``[bases] energy``; DTSU666: 0x401E by default, 0x101E on some units)."""
    transformer: str | None = None
    building: str | None = None
    household: str | None = None
    phase: str | None = None
    password: str = "00000000"
    """Level + 3-byte password for writes and relay control, as 8 hex digits."""
    operator_code: str = "00000000"
    control: str = "secured"
    """``secured`` (sealed through the security module) or ``plaintext`` control orders."""
    ct_ratio: float = 1.0
    pt_ratio: float = 1.0
    kind: str = LOAD_METER
    """One of ``METER_KINDS``: whether this meter is a load or its transformer's own meter."""

    def tags(self) -> dict[str, str]:
        """The storage tags that place this meter in the fleet."""
        tags = {"channel": self.channel}
        for key in ("transformer", "building", "household", "phase"):
            value = getattr(self, key)
            if value:
                tags[key] = value
        return tags


@dataclass(frozen=True, slots=True)
class ClockConfig:
    check_interval: float = 86400.0
    """How often each meter's clock is read and compared."""
    broadcast_interval: float = 86400.0
    """How often a broadcast time sync goes out on every DL/T 645 bus."""
    drift_threshold: float = 30.0
    """Seconds of drift above which a meter gets an addressed time sync on its own."""
    start: datetime | None = None
    """Simulated time instead of the wall clock: the simulated instant at ``anchor``."""
    speed: float = 1.0
    """Simulated seconds per real second (only with ``start``)."""
    anchor: datetime | None = None
    """The real instant at which simulated time was ``start``; absent means "when the head-end
    starts". ``headend simulate --write-config`` writes all three, so the head-end shares the
    simulator's now however much later it starts."""


@dataclass(frozen=True, slots=True)
class FleetConfig:
    source: str
    site: str
    timezone: str
    channels: Mapping[str, ChannelConfig]
    transformers: Mapping[str, TransformerConfig]
    plans: Mapping[str, PlanConfig]
    meters: Mapping[str, MeterConfig]
    clock: ClockConfig
    mqtt: MqttConfig | None
    storage: StorageConfig = dataclasses.field(default_factory=EmbeddedStorage)
    """The ``[storage]`` table, checked at load; ``headend.collection.storage_setup`` opens it."""
    api: ApiTable = dataclasses.field(default_factory=ApiTable)
    """The ``[api]`` table (listen address, limits, tokens), checked at load; the tokens' secrets
    are read from the environment when the service starts (``headend.api.settings``)."""
    anomaly: AnomalyConfig | None = None
    """The ``[anomaly]`` thresholds and timings (docs/anomaly.md); None means the defaults."""
    security: SecurityTable | None = None
    """The ``[security]`` table; the module is built when the service starts."""
    master: MasterConfig = dataclasses.field(default_factory=MasterConfig)
    """The ``[master]`` table: where dial-in terminals connect (headend.config.terminals)."""
    terminals: Mapping[str, ConcentratorConfig] = dataclasses.field(default_factory=dict)
    """The ``[[terminals]]`` (concentrators) by name, with the meters each reads."""
    dial_in: DialInConfig = dataclasses.field(default_factory=DialInConfig)
    """The ``[dial_in]`` listener for ``dialin://`` channels (headend.config.dial_in)."""
    handoff: HandoffConfig | None = None
    """The ``[handoff]`` table: the daily hand-off's folder, webhook and time (None: none)."""
    tariff_names: Mapping[int, str] = dataclasses.field(
        default_factory=lambda: DEFAULT_TARIFF_NAMES
    )
    """``[site] tariff_names``: tariff number -> ``storage.tariffs.TARIFF_NAMES`` name."""
    archive: ArchiveTable | None = None
    """``[archive]``: meters also come from the meter archive (``config.archive_meters``)."""
    line_loss: LineLossLimits = DEFAULT_LINE_LOSS
    """``[line_loss]``: the transformer areas' loss thresholds (docs/line-loss.md)."""
    notify: NotifyTable = dataclasses.field(default_factory=NotifyTable)
    """``[notify]``: incident webhooks (docs/incidents.md); URLs from the environment are read
    when the service starts."""


def load_fleet_config(path: str | Path) -> FleetConfig:
    """Read and validate one fleet file; every way it can be unreadable is a ``ConfigError``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "not found") from None
    except OSError as exc:
        # A directory here usually means docker created the bind-mount source: say so plainly.
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path, "(file)", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line}"
        ) from None
    with paused_gc():  # a six-figure fleet is millions of objects, none of them garbage
        try:
            data = tomli.loads(text)  # tomllib compiled: see pyproject.toml
        except tomli.TOMLDecodeError as exc:
            raise ConfigError(path, "(syntax)", str(exc)) from None
        except RecursionError:
            # tomllib recurses once per level of nested arrays or inline tables.
            raise ConfigError(path, "(syntax)", "arrays or tables nested too deeply") from None
        if not data:
            # A truncated copy or an empty mount would otherwise start a head-end with no meters.
            raise ConfigError(
                path, "(file)", "is empty: expected [[channels]], [plans.*] and [[meters]] tables"
            )
        config = parse_fleet_config(data, str(path))
        # The meter-against-fleet checks build on this module's types: imported here, not above.
        from headend.config.meters import check_meters

        check_meters(config)
    return config


def _timezone(name: str) -> str:
    """Unknown zones fail here, not when the engine first turns a slot into local time."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as 'Asia/Shanghai')"
        ) from None
    return name


class SiteTable(FileModel):
    name: str = "site"
    timezone: Annotated[str, AfterValidator(_timezone)] = "Asia/Shanghai"
    tariff_names: dict[str, str] | None = None
    """TOML keys are text: checked and turned into tariff numbers by ``tariff_numbers``."""

    @model_validator(mode="after")
    def _known_tariffs(self) -> SiteTable:
        self.tariff_numbers()
        return self

    def tariff_numbers(self) -> Mapping[int, str]:
        """Which tariff is 尖/峰/平/谷 at this site; the State Grid default when not given."""
        if self.tariff_names is None:
            return DEFAULT_TARIFF_NAMES
        numbers: dict[int, str] = {}
        for key, name in self.tariff_names.items():
            place = ("tariff_names", key)
            if not (key.isdigit() and str(int(key)) == key and 1 <= int(key) <= MAX_TARIFF):
                raise KeyProblem(place, f"tariff number {key!r} is not 1..{MAX_TARIFF}")
            if name not in TARIFF_NAMES:
                raise KeyProblem(
                    place, f"unknown tariff name {name!r} (known: {', '.join(TARIFF_NAMES)})"
                )
            numbers[int(key)] = name
        return numbers


class ClockTable(FileModel):
    check_interval: Duration = 86400.0
    broadcast_interval: Duration = 86400.0
    drift_threshold: Duration = 30.0
    start: Instant | None = None
    speed: Number = Field(default=1.0, gt=0)
    anchor: Instant | None = None

    @model_validator(mode="after")
    def _needs_start(self) -> ClockTable:
        if self.start is None:
            for key in ("speed", "anchor"):
                if key in self.model_fields_set:
                    raise KeyProblem(key, "needs [clock] start (the simulated time it applies to)")
        return self


class ChannelTable(FileModel):
    name: TagText
    url: str
    protocol: ProtocolName = DEFAULT_PROTOCOL
    timeout: Annotated[Duration, Field(gt=0)] = 1.0
    inter_frame_gap: Duration = DEFAULT_INTER_FRAME_GAP
    retries: int = Field(default=2, ge=0)
    retry_backoff: Duration = 0.2
    reconnect_backoff_max: Duration = 60.0

    @model_validator(mode="after")
    def _url_fits_protocol(self) -> ChannelTable:
        try:
            settings = parse_transport_url(
                self.url, protocol=driver_for(self.protocol).transport_protocol
            )
        except InvalidTransportUrl as exc:
            raise KeyProblem("url", str(exc)) from None
        if isinstance(settings, DialInSettings) and not self.protocol.startswith("dlt645"):
            raise KeyProblem("url", f"dial-in DTUs carry DL/T 645 buses, not {self.protocol}")
        return self


class TransformerTable(FileModel):
    name: TagText
    rated_kva: Number = Field(ge=1.0)
    terminal: TagText | None = None


class ReadTable(FileModel):
    quantities: tuple[Annotated[str, Field(strict=True)], ...] = Field(min_length=1, strict=False)
    interval: Annotated[Duration, Field(ge=1)]
    lane: Literal["billing", "telemetry"] = "telemetry"


class PlanTable(FileModel):
    reads: tuple[ReadTable, ...] = Field(default=(), strict=False)
    daily_frozen: bool = False
    backfill_days: int = Field(default=7, ge=0)
    events: tuple[Annotated[str, Field(strict=True)], ...] = Field(default=(), strict=False)
    load_profile_hours: int = Field(default=0, ge=0, le=240)


class FleetFile(FileModel):
    """The whole fleet file; docs/configuration.md describes each table."""

    site: SiteTable = SiteTable()
    clock: ClockTable = ClockTable()
    channels: tuple[ChannelTable, ...] = Field(default=(), strict=False)
    transformers: tuple[TransformerTable, ...] = Field(default=(), strict=False)
    plans: dict[str, PlanTable] = Field(default_factory=dict)
    meters: tuple[MeterTable, ...] = Field(default=(), strict=False)
    mqtt: MqttTable | None = None
    storage: StorageConfig = EmbeddedStorage()
    api: ApiTable = ApiTable()
    security: SecurityTable | None = None
    master: MasterTable = MasterTable()
    dial_in: DialInTable = DialInTable()
    handoff: HandoffTable | None = None
    terminals: tuple[TerminalTable, ...] = Field(default=(), strict=False)
    anomaly: dict[str, Any] | None = None
    """Checked by ``headend.anomaly``'s own dataclass, imported only when the table is there."""
    archive: ArchiveTable | None = None
    line_loss: LineLossTable = LineLossTable()
    notify: NotifyTable = NotifyTable()


def parse_fleet_config(
    data: Mapping[str, Any], source: str, *, environ: Mapping[str, str] | None = None
) -> FleetConfig:
    """Validate a parsed fleet document; ``environ`` holds the MQTT requesters' tokens."""
    try:
        file = FleetFile.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(source, exc, data) from None
    channels = _unique("channels", [_channel(t) for t in file.channels], source)
    dial_in_channels({name: c.url for name, c in channels.items()}, source)
    transformers = _unique("transformers", [_transformer(t) for t in file.transformers], source)
    if file.handoff is not None and not isinstance(file.storage, EmbeddedStorage):
        raise ConfigError(
            source,
            "handoff",
            'reads the embedded store\'s change log: needs [storage] kind = "embedded"',
        )
    plans = {name: _plan(name, table) for name, table in file.plans.items()}
    meters = _meters(file.meters, channels, transformers, plans, source)
    terminals = terminal_configs(file.terminals, transformers, meters, source)
    if file.archive is not None:
        check_archive_table(
            file.archive, channels=channels, terminals=terminals, plans=plans, source=source
        )
    mqtt = None
    if file.mqtt is not None:
        mqtt = mqtt_config(file.mqtt, site=file.site.name, source=source, environ=environ)
    return FleetConfig(
        source=source,
        site=file.site.name,
        timezone=file.site.timezone,
        channels=channels,
        transformers=transformers,
        plans=plans,
        meters=meters,
        clock=ClockConfig(**file.clock.model_dump()),
        mqtt=mqtt,
        storage=file.storage,
        api=file.api,
        anomaly=None if file.anomaly is None else _anomaly(file.anomaly, source),
        security=file.security,
        master=master_config(file.master),
        dial_in=dial_in_config(file.dial_in),
        handoff=None if file.handoff is None else handoff_config(file.handoff),
        terminals=terminals,
        tariff_names=file.site.tariff_numbers(),
        archive=file.archive,
        line_loss=line_loss_limits(file.line_loss),
        notify=file.notify,
    )


def _anomaly(table: Mapping[str, Any], source: str) -> AnomalyConfig:
    """``[anomaly]`` as docs/anomaly.md documents it; errors name the file and dotted key."""
    from headend.anomaly.config import anomaly_table

    try:
        return anomaly_table().validate_python(table)
    except ValidationError as exc:
        raise from_validation_error(source, exc, table, prefix=("anomaly",)) from None


def _unique(key: str, items: list[Any], source: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for index, item in enumerate(items):
        if item.name in result:
            raise ConfigError(source, f"{key}[{index}].name", f"duplicate {item.name!r}")
        result[item.name] = item
    return result


def _channel(t: ChannelTable) -> ChannelConfig:
    return ChannelConfig(**t.model_dump())


def _transformer(t: TransformerTable) -> TransformerConfig:
    return TransformerConfig(**t.model_dump())


def _plan(name: str, t: PlanTable) -> PlanConfig:
    reads = tuple(ReadSpec(r.quantities, r.interval, Lane[r.lane.upper()]) for r in t.reads)
    return PlanConfig(
        name,
        reads,
        daily_frozen=t.daily_frozen,
        backfill_days=t.backfill_days,
        events=t.events,
        load_profile_hours=t.load_profile_hours,
    )


def meter_config(table: MeterTable, protocol: str) -> MeterConfig:
    """The meter the head-end runs with: ``protocol`` resolved (the channel's unless given) and
    the id defaulted to the address (DL/T 645) or ``channel:unit_id`` (Modbus)."""
    fields = table.model_dump(include=set(MeterTable.model_fields) - {"id", "protocol"})
    meter_id = table.id or table.address or f"{table.channel}:{table.unit_id}"
    return MeterConfig(id=meter_id, protocol=protocol, **fields)


def _meters(
    tables: tuple[MeterTable, ...],
    channels: Mapping[str, ChannelConfig],
    transformers: Mapping[str, TransformerConfig],
    plans: Mapping[str, PlanConfig],
    source: str,
) -> dict[str, MeterConfig]:
    """What a meter's table cannot tell alone: the channel, plan and transformer it names
    exist, its protocol's keys are there, its id and its address on the bus are its own."""
    meters: dict[str, MeterConfig] = {}
    addresses: dict[tuple[str, str], str] = {}
    for index, table in enumerate(tables):
        try:
            meter = _meter(table, channels, transformers, plans)
        except KeyProblem as exc:
            label = meter_label(table.model_dump(exclude_none=True))
            raise ConfigError(source, f"meters[{index}].{exc.key}", str(exc), meter=label) from None
        if meter.id in meters:
            raise ConfigError(
                source, f"meters[{index}].id", f"duplicate meter id {meter.id!r}", meter=meter.id
            )
        bus_key = (meter.channel, meter.address or f"unit:{meter.unit_id}")
        if bus_key in addresses:
            raise ConfigError(
                source,
                f"meters[{index}].address",
                f"{bus_key[1]} is already used by meter {addresses[bus_key]!r} on channel "
                f"{meter.channel!r}: two meters on one bus cannot share an address",
                meter=meter.id,
            )
        addresses[bus_key] = meter.id
        meters[meter.id] = meter
    return meters


def _meter(
    t: MeterTable,
    channels: Mapping[str, ChannelConfig],
    transformers: Mapping[str, TransformerConfig],
    plans: Mapping[str, PlanConfig],
) -> MeterConfig:
    channel = channels.get(t.channel)
    if channel is None:
        raise KeyProblem("channel", f"unknown channel {t.channel!r} (known: {sorted(channels)})")
    protocol = t.protocol or channel.protocol
    driver = driver_for(protocol)
    for key in PROTOCOL_KEYS:
        given = getattr(t, key) is not None
        if key not in driver.meter_keys and given:
            raise KeyProblem(key, f"not a key of a {protocol} meter")
        if key in driver.meter_keys and key != "address" and not given:
            raise KeyProblem(key, "is required")
    if "address" in driver.meter_keys:
        problem = driver.address_problem(t.address)
        if problem is not None:
            raise KeyProblem("address", problem)
    if t.plan not in plans:
        raise KeyProblem("plan", f"unknown plan {t.plan!r} (known: {sorted(plans)})")
    if t.transformer is not None and t.transformer not in transformers:
        raise KeyProblem("transformer", f"unknown transformer {t.transformer!r}")
    if t.kind == TRANSFORMER_LV_METER and t.transformer is None:
        raise KeyProblem("kind", "a transformer_lv meter needs the transformer it measures")
    return meter_config(t, protocol)


def meter_tag_problem(meter: MeterConfig) -> tuple[str, str] | None:
    """The first field of ``meter`` that cannot be a storage tag, and why (for fleet changes)."""
    for key in ("id", "channel", "transformer", "building", "household"):
        value = getattr(meter, key)
        if value is None:
            continue
        try:
            validate_tag_value(value, "a storage tag")
        except RecordError as exc:
            return key, str(exc)
    return None
