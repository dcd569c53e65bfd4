"""The fleet's meters from the meter archive (档案), beside the fleet file's own, at start.

Why at start and not per request: collection plans, bus schedules and the registry are built
once from the fleet; an archive imported while the head-end runs (``/api/archive/import``,
``headend archive import``) is collected from the next start. Every archive meter in service
today (installed, not removed before today) becomes a bus meter (its ``channel``) or a
concentrator's meter (its ``terminal`` and ``pn``), read as ``[archive]`` says for its channel
or terminal. The checks are the fleet file's (``check_meter``), with errors naming the archive
file and the meter: a channel, terminal, plan or transformer the fleet file lacks, an id the
fleet file also has (both places named), two meters on one bus address or one pn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from headend.config.archive_table import ArchiveDefaults, ArchiveTable
from headend.config.errors import ConfigError
from headend.config.fleet import (
    LOAD_METER,
    TRANSFORMER_LV_METER,
    FleetConfig,
    MeterConfig,
)
from headend.config.meters import BusAddress, RegistryError, bus_address, check_meter
from headend.config.terminals import ConcentratorConfig, TerminalMeterConfig
from headend.drivers.registry import UnknownProtocol, driver_for
from storage.archive.records import ArchiveMeter, MeterRole
from storage.archive.store import ARCHIVE_FILE, load_archive
from storage.errors import ArchiveError

DEFAULT_CONTROL = "secured"
DEFAULT_PASSWORD = "00000000"
"""What a ``[[meters]]`` table without these keys gets (``MeterTable``): the same here."""
PHASES = ("A", "B", "C", "ABC")
"""What a fleet meter's ``phase`` may be (``headend.config.meter_table``)."""


def archive_file(config: FleetConfig, data_dir: Path | None) -> Path | None:
    """The archive ``[archive]`` names: its ``path`` (relative to the fleet file), else the
    data dir's; None without an ``[archive]`` table."""
    table = config.archive
    if table is None:
        return None
    if table.path is not None:
        given = Path(table.path)
        return given if given.is_absolute() else Path(config.source).parent / given
    if data_dir is None:
        raise ConfigError(
            config.source,
            "archive.path",
            f"no path, and no data dir to take {ARCHIVE_FILE} from (headend run --data-dir)",
        )
    return data_dir / ARCHIVE_FILE


def with_archive_meters(config: FleetConfig, data_dir: Path | None, today: date) -> FleetConfig:
    """``config`` with the archive's meters in service on ``today`` added (``[archive]``), or
    ``config`` itself without the table. A missing or unreadable archive is a ``ConfigError``
    naming the file."""
    path = archive_file(config, data_dir)
    if path is None:
        return config
    if not path.is_file():
        raise ConfigError(
            path,
            "(file)",
            f"no archive here ([archive] of {config.source}): import one first "
            "(headend archive import FILE --data-dir DIR)",
        )
    try:
        meters = load_archive(path)
    except ArchiveError as exc:
        raise ConfigError(path, "(file)", str(exc)) from None
    return merge_archive_meters(config, meters, str(path), today)


def merge_archive_meters(
    config: FleetConfig, archive: Iterable[ArchiveMeter], source: str, today: date
) -> FleetConfig:
    """The fleet with ``archive``'s meters in service on ``today``; ``source`` names the
    archive in the errors."""
    table = config.archive or ArchiveTable()
    places = _places(config)
    meters = dict(config.meters)
    on_bus: dict[str, dict[BusAddress, str]] = {}
    for meter in meters.values():
        on_bus.setdefault(meter.channel, {})[bus_address(meter)] = meter.id
    points = {
        name: {m.pn: m.id for m in terminal.meters} for name, terminal in config.terminals.items()
    }
    behind: dict[str, list[TerminalMeterConfig]] = {name: [] for name in config.terminals}
    for row in archive:
        if not row.in_service(today):
            continue  # removed before today (exchanged, taken out) or not installed yet
        if row.id in places:
            raise ConfigError(
                source,
                "id",
                f"meter id {row.id!r} is in the archive and in {places[row.id]}: "
                "one id, one meter (remove one of them)",
                meter=row.id,
            )
        places[row.id] = f"the archive {source}"
        if row.channel is not None and row.terminal is not None:
            raise _problem(source, row, "terminal", "names both a channel and a terminal")
        if row.channel is not None:
            meter = _bus_meter(config, table, row, source)
            channel_meters = on_bus.setdefault(meter.channel, {})
            try:
                check_meter(config, meter, on_bus=channel_meters)
            except RegistryError as exc:
                raise _problem(source, row, exc.key or "id", exc.problem) from None
            channel_meters[bus_address(meter)] = meter.id
            meters[meter.id] = meter
        elif row.terminal is not None:
            concentrated = _terminal_meter(config, table, row, source, points)
            behind[concentrated.terminal].append(concentrated)
        else:
            raise _problem(source, row, "channel", "has no channel and no terminal to read it by")
    terminals = {
        name: _with_meters(terminal, behind[name]) for name, terminal in config.terminals.items()
    }
    return dataclasses.replace(config, meters=meters, terminals=terminals)


def _places(config: FleetConfig) -> dict[str, str]:
    """Where the fleet file has each meter id, for the duplicate-id error."""
    places = {meter_id: f"{config.source} [[meters]]" for meter_id in config.meters}
    for name, terminal in config.terminals.items():
        for meter in terminal.meters:
            places[meter.id] = f"{config.source} [[terminals]] {name}"
    return places


def _problem(source: str, row: ArchiveMeter, key: str, problem: str) -> ConfigError:
    return ConfigError(source, key, problem, meter=row.id)


def _bus_meter(
    config: FleetConfig, table: ArchiveTable, row: ArchiveMeter, source: str
) -> MeterConfig:
    assert row.channel is not None
    channel = config.channels.get(row.channel)
    if channel is None:
        known = ", ".join(sorted(config.channels))
        raise _problem(
            source,
            row,
            "channel",
            f"channel {row.channel!r} is not a channel of {config.source} (known: {known})",
        )
    defaults = table.defaults(channel=row.channel, terminal=None)
    plan = _plan(row, defaults, config, source)
    try:
        keys = driver_for(row.protocol).meter_keys
    except UnknownProtocol as exc:
        raise _problem(source, row, "protocol", str(exc)) from None
    address: str | None = row.address
    unit_id: int | None = None
    register_map: str | None = None
    if "unit_id" in keys:  # Modbus: the archive's address is the unit id
        if defaults.register_map is None:
            raise _problem(
                source,
                row,
                "protocol",
                f"a {row.protocol} meter needs [archive.channels.{row.channel}] register_map",
            )
        address, unit_id, register_map = None, int(row.address), defaults.register_map
    if row.phase is not None and row.phase not in PHASES:
        raise _problem(source, row, "phase", f"phase {row.phase!r} is not one of {PHASES}")
    return MeterConfig(
        id=row.id,
        channel=row.channel,
        protocol=row.protocol,
        plan=plan,
        address=address,
        unit_id=unit_id,
        register_map=register_map,
        transformer=row.transformer,
        building=row.building,
        household=row.household,
        phase=row.phase,
        ct_ratio=row.ct_ratio,
        pt_ratio=row.pt_ratio,
        kind=TRANSFORMER_LV_METER if row.kind is MeterRole.TRANSFORMER_LV else LOAD_METER,
        control=defaults.control or DEFAULT_CONTROL,
        password=defaults.password or DEFAULT_PASSWORD,
        operator_code=defaults.operator_code or DEFAULT_PASSWORD,
    )


def _plan(row: ArchiveMeter, defaults: ArchiveDefaults, config: FleetConfig, source: str) -> str:
    plan = row.plan or defaults.plan
    if plan is None:
        raise _problem(
            source,
            row,
            "plan",
            f"no plan: give the row one, or [archive] plan / [archive.channels.{row.channel}] plan",
        )
    if plan not in config.plans:
        known = ", ".join(sorted(config.plans))
        raise _problem(source, row, "plan", f"unknown plan {plan!r} (known: {known})")
    return plan


def _terminal_meter(
    config: FleetConfig,
    table: ArchiveTable,
    row: ArchiveMeter,
    source: str,
    points: Mapping[str, dict[int, str]],
) -> TerminalMeterConfig:
    assert row.terminal is not None
    terminal = config.terminals.get(row.terminal)
    if terminal is None:
        known = ", ".join(sorted(config.terminals)) or "none"
        raise _problem(
            source,
            row,
            "terminal",
            f"terminal {row.terminal!r} is not a terminal of {config.source} (known: {known})",
        )
    if row.pn is None or row.pn < 1:
        raise _problem(source, row, "pn", f"a meter of terminal {row.terminal} needs its pn")
    taken = points[row.terminal]
    if row.pn in taken:
        raise _problem(
            source, row, "pn", f"pn {row.pn} of terminal {row.terminal} is meter {taken[row.pn]}"
        )
    taken[row.pn] = row.id
    if len(row.address) != 12:
        raise _problem(source, row, "address", f"{row.address!r}: a terminal's meter has 12 digits")
    if row.transformer is not None and row.transformer not in config.transformers:
        raise _problem(source, row, "transformer", f"unknown transformer {row.transformer!r}")
    defaults = table.defaults(channel=None, terminal=row.terminal)
    return TerminalMeterConfig(
        id=row.id,
        terminal=row.terminal,
        pn=row.pn,
        address=row.address,
        transformer=row.transformer or terminal.transformer,
        building=row.building,
        household=row.household,
        control=defaults.control or DEFAULT_CONTROL,
        password=defaults.password or DEFAULT_PASSWORD,
        operator_code=defaults.operator_code or DEFAULT_PASSWORD,
    )


def _with_meters(
    terminal: ConcentratorConfig, added: list[TerminalMeterConfig]
) -> ConcentratorConfig:
    if not added:
        return terminal
    return dataclasses.replace(terminal, meters=terminal.meters + tuple(added))
