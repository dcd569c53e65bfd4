"""The fleet configuration: channels (buses), transformers, meters and read plans, from TOML.

Validated completely at load, so a wrong address or a meter on an unknown channel is reported
with file and key before any bus is opened, not discovered at 03:00 by a failing backfill.
"""

from __future__ import annotations

import math
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headend.bus.lanes import Lane
from headend.config.fields import ConfigError, Table
from headend.config.mqtt import MqttConfig as MqttConfig
from headend.config.mqtt import parse_mqtt
from headend.config.terminal_points import DEFAULT_TERMINAL_NAMES as DEFAULT_TERMINAL_NAMES
from headend.drivers.registry import DEFAULT_PROTOCOL, driver_for, known_protocols
from storage.errors import RecordError
from storage.line_protocol import validate_tag_value
from transports import InvalidTransportUrl, parse_transport_url

if TYPE_CHECKING:
    # headend.anomaly brings numpy: imported only when a file has an [anomaly] table, so that
    # `headend read` (which needs DEFAULT_INTER_FRAME_GAP from here) starts fast.
    from headend.anomaly.config import AnomalyConfig

LOAD_METER = "load"
TRANSFORMER_LV_METER = "transformer_lv"
METER_KINDS = (LOAD_METER, TRANSFORMER_LV_METER)
"""A load meter (household, pile, pump room) is part of its transformer's load; a
``transformer_lv`` meter measures the transformer itself on its LV side, like its terminal."""
DEFAULT_INTER_FRAME_GAP = 0.05
"""Seconds of silence between frames unless a channel says otherwise (the CLI uses it too)."""
_PASSWORD = re.compile(r"[0-9A-Fa-f]{8}")


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
    transformer: str | None = None
    building: str | None = None
    household: str | None = None
    phase: str | None = None
    password: str = "00000000"
    """Level + 3-byte password for writes and relay control, as 8 hex digits."""
    operator_code: str = "00000000"
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
    storage: Mapping[str, Any]
    """Passed to the storage factory, which validates its own keys."""
    api: Mapping[str, Any] | None = None
    """The ``[api]`` table (listen address, tokens), validated by ``headend.api.settings``."""
    anomaly: AnomalyConfig | None = None
    """The ``[anomaly]`` thresholds and timings (docs/anomaly.md); None means the defaults."""


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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
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


def parse_fleet_config(data: Mapping[str, Any], source: str) -> FleetConfig:
    root = Table(source, "", data)
    site = root.table("site") or Table(source, "site", {})
    site_name = site.text("name", "site")
    timezone = site.text("timezone", "Asia/Shanghai")
    _check_timezone(site, timezone)
    site.reject_unknown()

    channels = _unique((_channel(t) for t in root.tables("channels")), root, "channels")
    transformers = _unique(
        (_transformer(t) for t in root.tables("transformers")), root, "transformers"
    )
    plans_table = root.table("plans")
    plans: dict[str, PlanConfig] = {}
    if plans_table is not None:
        for name in plans_table.data:
            sub = plans_table.table(name)
            assert sub is not None
            plans[name] = _plan(name, sub)
        plans_table.reject_unknown()

    meters: dict[str, MeterConfig] = {}
    addresses: dict[tuple[str, str], str] = {}
    for table in root.tables("meters"):
        try:
            meter = _meter(table, channels, transformers, plans)
        except ConfigError as exc:
            raise exc.for_meter(_meter_label(table)) from None
        if meter.id in meters:
            raise table.error("id", f"duplicate meter id {meter.id!r}").for_meter(meter.id)
        bus_key = (meter.channel, meter.address or f"unit:{meter.unit_id}")
        if bus_key in addresses:
            raise table.error(
                "address",
                f"{bus_key[1]} is already used by meter {addresses[bus_key]!r} on channel "
                f"{meter.channel!r}: two meters on one bus cannot share an address",
            ).for_meter(meter.id)
        addresses[bus_key] = meter.id
        meters[meter.id] = meter

    clock_table = root.table("clock") or Table(source, "clock", {})
    clock = _clock(clock_table)

    mqtt_table = root.table("mqtt")
    mqtt = parse_mqtt(mqtt_table, site=site_name) if mqtt_table is not None else None
    storage_table = root.table("storage")
    storage = dict(storage_table.data) if storage_table is not None else {"kind": "embedded"}
    api_table = root.table("api")
    anomaly_table = root.table("anomaly")
    anomaly = _anomaly(anomaly_table) if anomaly_table is not None else None
    root.reject_unknown()
    return FleetConfig(
        source=source,
        site=site_name,
        timezone=timezone,
        channels=channels,
        transformers=transformers,
        plans=plans,
        meters=meters,
        clock=clock,
        mqtt=mqtt,
        storage=storage,
        api=dict(api_table.data) if api_table is not None else None,
        anomaly=anomaly,
    )


def _check_timezone(site: Table, name: str) -> None:
    """Unknown zones fail here, not when the engine first turns a slot into local time."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long
        raise site.error(
            "timezone", f"unknown time zone {name!r} (an IANA name such as 'Asia/Shanghai')"
        ) from None


def _meter_label(t: Table) -> str:
    """What to call a meter whose table failed to load: its id, else its address or unit."""
    for key in ("id", "address"):
        value = t.data.get(key)
        if isinstance(value, str) and value:
            return value
    channel, unit = t.data.get("channel"), t.data.get("unit_id")
    if isinstance(channel, str) and isinstance(unit, int):
        return f"{channel}:{unit}"
    return "(no id or address)"


def _anomaly(t: Table) -> AnomalyConfig:
    """``[anomaly]`` as docs/anomaly.md documents it; errors name the file and dotted key."""
    from headend.anomaly.config import AnomalyConfig
    from headend.anomaly.errors import AnomalyConfigError

    try:
        return AnomalyConfig.from_mapping(t.data)
    except AnomalyConfigError as exc:
        if exc.key is None:
            raise ConfigError(t.source, t.path, exc.problem) from None
        raise t.error(exc.key, exc.problem) from None


def _clock(t: Table) -> ClockConfig:
    start = t.instant("start")
    anchor = t.instant("anchor")
    speed = t.number("speed", 1.0)
    if not 0 < speed < math.inf:
        raise t.error("speed", f"must be > 0 and finite, got {speed}")
    if start is None:
        for key in ("speed", "anchor"):
            if key in t.data:
                raise t.error(key, "needs [clock] start (the simulated time it applies to)")
    config = ClockConfig(
        check_interval=t.duration("check_interval", "1d"),
        broadcast_interval=t.duration("broadcast_interval", "1d"),
        drift_threshold=t.duration("drift_threshold", "30s"),
        start=start,
        speed=speed,
        anchor=anchor,
    )
    t.reject_unknown()
    return config


def _unique(items: Any, root: Table, key: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for index, item in enumerate(items):
        if item.name in result:
            raise ConfigError(root.source, f"{key}[{index}].name", f"duplicate {item.name!r}")
        result[item.name] = item
    return result


def tag_text(t: Table, name: str, value: str | None) -> str | None:
    """``value`` of key ``name``, refused at load when it cannot be a storage tag (a newline in a
    building name would otherwise make every write of that meter fail, for as long as it runs)."""
    if value is not None:
        try:
            validate_tag_value(value, "a storage tag")
        except RecordError as exc:
            raise t.error(name, str(exc)) from None
    return value


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


def _channel(t: Table) -> ChannelConfig:
    channel = ChannelConfig(
        name=str(tag_text(t, "name", t.text("name"))),
        url=t.text("url"),
        protocol=t.choice("protocol", known_protocols(), DEFAULT_PROTOCOL),
        timeout=t.duration("timeout", "1s"),
        inter_frame_gap=t.duration("inter_frame_gap", DEFAULT_INTER_FRAME_GAP),
        retries=t.integer("retries", 2, minimum=0),
        retry_backoff=t.duration("retry_backoff", "200ms"),
        reconnect_backoff_max=t.duration("reconnect_backoff_max", "60s"),
    )
    try:
        parse_transport_url(channel.url, protocol=driver_for(channel.protocol).transport_protocol)
    except InvalidTransportUrl as exc:
        raise t.error("url", str(exc)) from None
    if channel.timeout <= 0:
        raise t.error("timeout", "must be > 0")
    t.reject_unknown()
    return channel


def _transformer(t: Table) -> TransformerConfig:
    transformer = TransformerConfig(
        name=str(tag_text(t, "name", t.text("name"))),
        rated_kva=t.number("rated_kva", minimum=1.0),
        terminal=tag_text(t, "terminal", t.optional_text("terminal")),
    )
    t.reject_unknown()
    return transformer


def _plan(name: str, t: Table) -> PlanConfig:
    reads = []
    for read in t.tables("reads"):
        quantities = tuple(read.text_list("quantities"))
        if not quantities:
            raise read.error("quantities", "must name at least one quantity")
        interval = read.duration("interval")
        if interval < 1:
            raise read.error("interval", "must be at least 1s")
        lane = read.choice("lane", ("billing", "telemetry"), "telemetry")
        reads.append(ReadSpec(quantities, interval, Lane[lane.upper()]))
        read.reject_unknown()
    plan = PlanConfig(
        name=name,
        reads=tuple(reads),
        daily_frozen=t.flag("daily_frozen", False),
        backfill_days=t.integer("backfill_days", 7, minimum=0),
    )
    t.reject_unknown()
    return plan


def _meter(
    t: Table,
    channels: Mapping[str, ChannelConfig],
    transformers: Mapping[str, TransformerConfig],
    plans: Mapping[str, PlanConfig],
) -> MeterConfig:
    channel_name = t.text("channel")
    channel = channels.get(channel_name)
    if channel is None:
        raise t.error("channel", f"unknown channel {channel_name!r} (known: {sorted(channels)})")
    protocol = t.choice("protocol", known_protocols(), channel.protocol)
    driver = driver_for(protocol)
    address = t.optional_text("address")
    unit_id: int | None = None
    register_map: str | None = None
    if "address" in driver.meter_keys:
        problem = driver.address_problem(address)
        if problem is not None:
            raise t.error("address", problem)
    if "unit_id" in driver.meter_keys:
        unit_id = t.integer("unit_id", minimum=1)
        if unit_id > 247:
            raise t.error("unit_id", f"Modbus unit ids are 1-247, got {unit_id}")
    if "register_map" in driver.meter_keys:
        register_map = t.text("register_map")
    plan = t.text("plan")
    if plan not in plans:
        raise t.error("plan", f"unknown plan {plan!r} (known: {sorted(plans)})")
    transformer = t.optional_text("transformer")
    if transformer is not None and transformer not in transformers:
        raise t.error("transformer", f"unknown transformer {transformer!r}")
    kind = t.choice("kind", METER_KINDS, LOAD_METER)
    if kind == TRANSFORMER_LV_METER and transformer is None:
        raise t.error("kind", "a transformer_lv meter needs the transformer it measures")
    meter_id = tag_text(t, "id", t.optional_text("id")) or address or f"{channel_name}:{unit_id}"
    password = t.text("password", "00000000")
    operator_code = t.text("operator_code", "00000000")
    for key, value in (("password", password), ("operator_code", operator_code)):
        if not _PASSWORD.fullmatch(value):
            raise t.error(key, "expected 8 hex digits")
    phase = t.optional_text("phase")
    if phase is not None and phase not in ("A", "B", "C", "ABC"):
        raise t.error("phase", f"expected A, B, C or ABC, got {phase!r}")
    meter = MeterConfig(
        id=meter_id,
        channel=channel_name,
        protocol=protocol,
        plan=plan,
        address=address,
        unit_id=unit_id,
        register_map=register_map,
        transformer=transformer,
        building=tag_text(t, "building", t.optional_text("building")),
        household=tag_text(t, "household", t.optional_text("household")),
        phase=phase,
        password=password,
        operator_code=operator_code,
        ct_ratio=t.number("ct_ratio", 1.0, minimum=0.001),
        pt_ratio=t.number("pt_ratio", 1.0, minimum=0.001),
        kind=kind,
    )
    t.reject_unknown()
    return meter
