"""The fleet configuration: channels (buses), transformers, meters and read plans, from TOML.

Validated completely at load, so a wrong address or a meter on an unknown channel is reported
with file and key before any bus is opened, not discovered at 03:00 by a failing backfill.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headend.config_fields import ConfigError, Table
from headend.lanes import Lane
from headend.transports import InvalidTransportUrl, parse_transport_url

PROTOCOLS = ("dlt645-2007", "dlt645-1997", "modbus")
_SERIAL_PROTOCOL = {
    "dlt645-2007": "dlt645-2007",
    "dlt645-1997": "dlt645-1997",
    "modbus": "modbus-rtu",
}
DEFAULT_INTER_FRAME_GAP = 0.05
"""Seconds of silence between frames unless a channel says otherwise (the CLI uses it too)."""
_ADDRESS = re.compile(r"[0-9]{12}")
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
class MqttConfig:
    host: str
    port: int = 1883
    client_id: str = "headend"
    username: str | None = None
    password: str | None = None
    ingest_topics: tuple[str, ...] = ()
    publish_prefix: str = "headend"
    names: Mapping[str, str] = field(default_factory=dict)
    """Terminal data names -> quantity names (e.g. PhV_phsA -> voltage_a)."""


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


DEFAULT_TERMINAL_NAMES: Mapping[str, str] = {
    "PhV_phsA": "voltage_a",
    "PhV_phsB": "voltage_b",
    "PhV_phsC": "voltage_c",
    "A_phsA": "current_a",
    "A_phsB": "current_b",
    "A_phsC": "current_c",
    "TotW": "power_active_total",
    "TotVar": "power_reactive_total",
    "TotPF": "power_factor_total",
    "Hz": "frequency",
    "LoadRate": "load_rate",
    "OilTemp": "oil_temperature",
    "WindTemp": "winding_temperature",
    "SupWh": "energy_active_import_total",
}


def load_fleet_config(path: str | Path) -> FleetConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(syntax)", str(exc)) from None
    return parse_fleet_config(data, str(path))


def parse_fleet_config(data: Mapping[str, Any], source: str) -> FleetConfig:
    root = Table(source, "", data)
    site = root.table("site") or Table(source, "site", {})
    site_name = site.text("name", "site")
    timezone = site.text("timezone", "Asia/Shanghai")
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
        meter = _meter(table, channels, transformers, plans)
        if meter.id in meters:
            raise table.error("id", f"duplicate meter id {meter.id!r}")
        bus_key = (meter.channel, meter.address or f"unit:{meter.unit_id}")
        if bus_key in addresses:
            raise table.error(
                "address",
                f"{bus_key[1]} is already used by meter {addresses[bus_key]!r} on channel "
                f"{meter.channel!r}: two meters on one bus cannot share an address",
            )
        addresses[bus_key] = meter.id
        meters[meter.id] = meter

    clock_table = root.table("clock") or Table(source, "clock", {})
    clock = _clock(clock_table)

    mqtt_table = root.table("mqtt")
    mqtt = _mqtt(mqtt_table) if mqtt_table is not None else None
    storage_table = root.table("storage")
    storage = dict(storage_table.data) if storage_table is not None else {"kind": "embedded"}
    api_table = root.table("api")
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
    )


def _clock(t: Table) -> ClockConfig:
    start = _instant(t, "start")
    anchor = _instant(t, "anchor")
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


def _instant(t: Table, key: str) -> datetime | None:
    """A timezone-aware instant from a TOML offset date-time or an ISO 8601 text."""
    raw: str | datetime | None = t._get(key, (str, datetime), None)
    if raw is None or isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise t.error(
                key, f"expected a date-time such as 2026-07-15T18:00:00+08:00, got {raw!r}"
            ) from None
    if value is None:
        return None
    if value.tzinfo is None:
        raise t.error(key, f"{raw!r} has no UTC offset (write e.g. +08:00)")
    return value


def _unique(items: Any, root: Table, key: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for index, item in enumerate(items):
        if item.name in result:
            raise ConfigError(root.source, f"{key}[{index}].name", f"duplicate {item.name!r}")
        result[item.name] = item
    return result


def _channel(t: Table) -> ChannelConfig:
    channel = ChannelConfig(
        name=t.text("name"),
        url=t.text("url"),
        protocol=t.choice("protocol", PROTOCOLS, "dlt645-2007"),
        timeout=t.duration("timeout", "1s"),
        inter_frame_gap=t.duration("inter_frame_gap", DEFAULT_INTER_FRAME_GAP),
        retries=t.integer("retries", 2, minimum=0),
        retry_backoff=t.duration("retry_backoff", "200ms"),
        reconnect_backoff_max=t.duration("reconnect_backoff_max", "60s"),
    )
    try:
        parse_transport_url(channel.url, protocol=_SERIAL_PROTOCOL[channel.protocol])
    except InvalidTransportUrl as exc:
        raise t.error("url", str(exc)) from None
    if channel.timeout <= 0:
        raise t.error("timeout", "must be > 0")
    t.reject_unknown()
    return channel


def _transformer(t: Table) -> TransformerConfig:
    transformer = TransformerConfig(
        name=t.text("name"),
        rated_kva=t.number("rated_kva", minimum=1.0),
        terminal=t.optional_text("terminal"),
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
    protocol = t.choice("protocol", PROTOCOLS, channel.protocol)
    address = t.optional_text("address")
    unit_id: int | None = None
    register_map: str | None = None
    if protocol.startswith("dlt645"):
        if address is None or not _ADDRESS.fullmatch(address):
            raise t.error("address", f"expected the 12-digit meter address, got {address!r}")
    else:
        unit_id = t.integer("unit_id", minimum=1)
        if unit_id > 247:
            raise t.error("unit_id", f"Modbus unit ids are 1-247, got {unit_id}")
        register_map = t.text("register_map")
    plan = t.text("plan")
    if plan not in plans:
        raise t.error("plan", f"unknown plan {plan!r} (known: {sorted(plans)})")
    transformer = t.optional_text("transformer")
    if transformer is not None and transformer not in transformers:
        raise t.error("transformer", f"unknown transformer {transformer!r}")
    meter_id = t.optional_text("id") or address or f"{channel_name}:{unit_id}"
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
        building=t.optional_text("building"),
        household=t.optional_text("household"),
        phase=phase,
        password=password,
        operator_code=operator_code,
        ct_ratio=t.number("ct_ratio", 1.0, minimum=0.001),
        pt_ratio=t.number("pt_ratio", 1.0, minimum=0.001),
    )
    t.reject_unknown()
    return meter


def _mqtt(t: Table) -> MqttConfig:
    names = dict(DEFAULT_TERMINAL_NAMES)
    names_table = t.table("names")
    if names_table is not None:
        for key in names_table.data:
            names[key] = names_table.text(key)
    config = MqttConfig(
        host=t.text("host"),
        port=t.integer("port", 1883, minimum=1),
        client_id=t.text("client_id", "headend"),
        username=t.optional_text("username"),
        password=t.optional_text("password"),
        ingest_topics=tuple(t.text_list("ingest_topics", [])),
        publish_prefix=t.text("publish_prefix", "headend"),
        names=names,
    )
    t.reject_unknown()
    return config
