"""The head-end's fleet config for a running scenario, as a dict and as TOML text.

Typing 282 meters with their addresses, buildings and phases into a fleet file by hand is how
a demo ends up reading a meter that does not exist; deriving it from the same scenario the
simulators run guarantees the head-end asks for exactly the meters that answer, and tags them
with the transformer, building and phase the anomaly rules group by.

The stdlib reads TOML but does not write it: tomli-w does (``dump_toml``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import tomli_w

from simulators.concentrator.community import PlacedConcentrator
from simulators.errors import SimulatorError
from simulators.runner import Endpoints
from simulators.scenario import (
    LoadKind,
    LvMeterSpec,
    MeterModel,
    MeterSpec,
    Scenario,
    lv_meter_id,
)

HOUSEHOLD_PLAN = "household"
THREE_PHASE_PLAN = "three_phase"
LV_PLAN = "transformer_lv"
"""Plan of a transformer's LV-side Modbus meter: named per register map (``transformer_lv_<map>``),
since a plan may only ask for quantities its meters' maps have."""

_TELEMETRY_INTERVAL = "1m"
_BILLING_INTERVAL = "15m"

PLANS: Mapping[str, Mapping[str, Any]] = {
    # Single-phase meters (households and EV piles) answer only phase A of a block, so they
    # are asked item by item; three-phase meters get the voltage and current blocks.
    HOUSEHOLD_PLAN: {
        "daily_frozen": True,
        "reads": [
            {
                "quantities": ["voltage_a", "current_a", "power_active_total"],
                "interval": _TELEMETRY_INTERVAL,
                "lane": "telemetry",
            },
            {
                "quantities": ["energy_active_import_total"],
                "interval": _BILLING_INTERVAL,
                "lane": "billing",
            },
        ],
    },
    THREE_PHASE_PLAN: {
        "daily_frozen": True,
        "reads": [
            {
                "quantities": [
                    "voltage_a",
                    "voltage_b",
                    "voltage_c",
                    "current_a",
                    "current_b",
                    "current_c",
                    "power_active_total",
                ],
                "interval": _TELEMETRY_INTERVAL,
                "lane": "telemetry",
            },
            {
                "quantities": ["energy_active_import_total"],
                "interval": _BILLING_INTERVAL,
                "lane": "billing",
            },
        ],
    },
}


FRAME_BYTES = 40
"""A DL/T 645 read request and its reply, preambles included, for the bus-time estimate."""
FRAME_OVERHEAD_S = 0.1
"""The meter's reply delay plus the head-end's inter-frame gap, per read."""
BUS_SHARE = 0.5
"""Share of the bus the scheduled reads may take, leaving room for on-demand and backfill."""


class FleetExportError(SimulatorError, ValueError):
    """The scenario and endpoints cannot be expressed as a fleet config; names what is off."""


def fleet_config_for(
    scenario: Scenario,
    endpoints: Endpoints,
    *,
    mqtt: tuple[str, int] | None = None,
    storage: Mapping[str, Any] | None = None,
    clock: Mapping[str, Any] | None = None,
    api: Mapping[str, Any] | None = None,
    speed: float = 1.0,
    archive: bool = False,
) -> dict[str, Any]:
    """The fleet document (loadable by ``headend.config.fleet.parse_fleet_config``).

    ``archive``: the DL/T 645 meters (on buses and behind concentrators) are left to the
    meter archive (``archive_rows``, imported by ``headend archive import``) and the document
    gets an ``[archive]`` table saying how they are read instead of their ``[[meters]]``.

    ``mqtt`` is the broker as the head-end should reach it (it may differ from where the
    simulator connects, e.g. across containers); it defaults to the endpoints' broker.
    ``storage`` becomes the ``[storage]`` table verbatim; without it the head-end's default
    (embedded) store is used. ``clock`` and ``api`` likewise become ``[clock]`` (the shared
    simulated clock) and ``[api]`` (listen address, tokens).

    ``speed`` is how much faster than real time the simulated clock runs: the read intervals
    are stretched so that each bus can still read every meter in time (see ``read_intervals``);
    at speed 1 they are the plan templates' own.
    """
    missing = [bus.id for bus in scenario.buses if bus.id not in endpoints.buses]
    missing += [lv_channel(t.id) for t, _ in scenario.lv_meters if t.id not in endpoints.lv_meters]
    if missing:
        raise FleetExportError(f"scenario {scenario.name}: no endpoint for bus(es) {missing}")
    device = {}
    if endpoints.mqtt is not None:
        device = {t.transformer: t.device for t in endpoints.mqtt.terminals}
    zone = timezone_name(scenario.utc_offset.utcoffset(None))
    secured = {bus.id: bus.esam_key_env is not None for bus in scenario.buses}
    # Meters a concentrator reads are the head-end's through that concentrator only.
    behind_concentrators = {placed.transformer for placed in endpoints.concentrators}
    document: dict[str, Any] = {
        "site": {"name": scenario.name, "timezone": zone},
        "channels": [
            {"name": bus.id, "url": endpoints.buses[bus.id], "protocol": bus.protocol}
            for bus in scenario.buses
        ]
        + [
            {"name": lv_channel(t.id), "url": endpoints.lv_meters[t.id], "protocol": "modbus"}
            for t, _ in scenario.lv_meters
            if t.id not in behind_concentrators  # else the concentrator reads it
        ],
        "transformers": [
            {"name": t.id, "rated_kva": t.rated_kva, "terminal": device.get(t.id, t.id)}
            for t in scenario.transformers
        ],
        "plans": _plans(read_intervals(scenario, speed)),
        "meters": [
            _meter(spec, secured[spec.bus])
            for spec in scenario.meters
            if spec.transformer not in behind_concentrators and not archive
        ]
        + [
            _lv_meter(t.id, meter)
            for t, meter in scenario.lv_meters
            if t.id not in behind_concentrators
        ],
    }
    if archive:
        document["archive"] = _archive_table(scenario, endpoints, secured)
    if endpoints.master is not None and endpoints.concentrators:
        document["master"] = {
            "host": endpoints.master[0],
            "port": endpoints.master[1],
            "pull_interval": CONCENTRATOR_PULL_INTERVAL,
        }
        plaintext = {m.id for m in scenario.meters if not secured[m.bus]}
        document["terminals"] = [
            _terminal(placed, plaintext, with_meters=not archive)
            for placed in endpoints.concentrators
        ]
    if endpoints.dial_in is not None:  # the buses' DTUs call the head-end's listener there
        document["dial_in"] = {"host": endpoints.dial_in[0], "port": endpoints.dial_in[1]}
    keys = {bus.esam_key_env for bus in scenario.buses if bus.esam_key_env}
    if len(keys) > 1:
        raise FleetExportError(
            f"scenario {scenario.name}: buses name different ESAM keys {sorted(keys)}; one "
            "security module serves a site"
        )
    if keys:
        document["security"] = {"module": "software", "key_env": keys.pop()}
    telemetry, billing = read_intervals(scenario, speed)
    for _, meter in scenario.lv_meters:
        document["plans"][lv_plan(meter)] = _lv_plan(meter, telemetry, billing)
    broker = mqtt
    if broker is None and endpoints.mqtt is not None:
        broker = (endpoints.mqtt.host, endpoints.mqtt.port)
    if broker is not None:
        topics = [t.telemetry for t in endpoints.mqtt.terminals] if endpoints.mqtt else []
        document["mqtt"] = {"host": broker[0], "port": broker[1], "ingest_topics": topics}
    if storage is not None:
        document["storage"] = dict(storage)
    if clock is not None:
        document["clock"] = dict(clock)
    if api is not None:
        document["api"] = _copy(api)
    return document


def read_intervals(scenario: Scenario, speed: float) -> tuple[str, str]:
    """(telemetry, billing) intervals a simulated clock at ``speed`` leaves time for.

    At 60x a one-minute telemetry slot is one real second, less than a 2400-baud bus of a few
    meters needs for one round: every slot would end as ``bus_overrun``. The busiest bus's
    round is estimated from its frame count and baud rate, and the interval is stretched (in
    whole minutes) until that round takes at most ``BUS_SHARE`` of it.
    """
    telemetry = _seconds(_TELEMETRY_INTERVAL)
    billing = _seconds(_BILLING_INTERVAL)
    round_s = 0.0
    for bus in scenario.buses:
        frames = 0
        for spec in scenario.meters_on_bus(bus.id):
            plan = PLANS[_plan_of(spec)]
            frames += sum(len(read["quantities"]) for read in plan["reads"])
        frame_s = FRAME_BYTES * 11 / bus.baud + FRAME_OVERHEAD_S
        round_s = max(round_s, frames * frame_s)
    needed = round_s / BUS_SHARE * speed
    if needed > telemetry:
        telemetry = math.ceil(needed / 60.0) * 60.0
    billing = max(billing, telemetry)
    return _duration(telemetry), _duration(billing)


def _plans(intervals: tuple[str, str]) -> dict[str, Any]:
    telemetry, billing = intervals
    plans: dict[str, Any] = {name: _copy(plan) for name, plan in PLANS.items()}
    for plan in plans.values():
        for read in plan["reads"]:
            read["interval"] = telemetry if read["lane"] == "telemetry" else billing
    return plans


def _seconds(duration: str) -> float:
    return float(duration.removesuffix("m")) * 60.0


def _duration(seconds: float) -> str:
    return f"{round(seconds / 60.0)}m"


def _plan_of(spec: MeterSpec) -> str:
    return HOUSEHOLD_PLAN if spec.model is MeterModel.SINGLE_PHASE else THREE_PHASE_PLAN


def _meter(spec: MeterSpec, secured: bool) -> dict[str, Any]:
    """A ``[[meters]]`` table; a meter without an ESAM takes plaintext control (the fleet
    file's default is secured, what a State Grid site expects)."""
    single = spec.model is MeterModel.SINGLE_PHASE
    meter: dict[str, Any] = {
        "id": spec.id,
        "address": spec.address,
        "channel": spec.bus,
        "plan": _plan_of(spec),
        "transformer": spec.transformer,
        "building": spec.building,
        "phase": spec.phase if single and spec.phase else "ABC",
    }
    if spec.kind is LoadKind.HOUSEHOLD:
        meter["household"] = spec.id
    if not secured:
        meter["control"] = "plaintext"
    return meter


CONCENTRATOR_PULL_INTERVAL = "10m"
"""How often the head-end asks concentrators again for missing days (simulated time)."""


def _terminal(
    placed: PlacedConcentrator, plaintext: set[str], *, with_meters: bool = True
) -> dict[str, Any]:
    """A ``[[terminals]]`` table with its ``[[terminals.meters]]`` (none ``with_meters=False``:
    the archive lists them); the ``plaintext`` meters (no ESAM) take forwarded relay orders
    with their password, as on a bus."""
    concentrator = placed.concentrator
    meters = []
    for m in placed.meters if with_meters else ():
        meter: dict[str, Any] = {"id": m.meter_id, "pn": m.point, "address": m.address}
        if m.meter_id in plaintext:
            meter["control"] = "plaintext"
        meters.append(meter)
    return {
        "name": placed.name,
        "address": placed.key,
        "heartbeat": f"{concentrator.heartbeat_period:g}s",
        "transformer": placed.transformer,
        "keeps_days": concentrator.store.keeps_days,
        "meters": meters,
    }


def archive_rows(scenario: Scenario, endpoints: Endpoints) -> list[dict[str, Any]]:
    """The DL/T 645 meters as meter archive rows (the columns of ``storage.archive.sheet``):
    a bus meter by its channel, a concentrator's meter by its terminal and pn, each with its
    plan, kind and place. The LV-side Modbus meters stay in the fleet file."""
    placed_at = {
        m.meter_id: (placed.name, m.point)
        for placed in endpoints.concentrators
        for m in placed.meters
    }
    rows = []
    for spec in scenario.meters:
        single = spec.model is MeterModel.SINGLE_PHASE
        row: dict[str, Any] = {
            "id": spec.id,
            "address": spec.address,
            "protocol": next(b.protocol for b in scenario.buses if b.id == spec.bus),
            "kind": spec.kind.value,
            "transformer": spec.transformer,
            "building": spec.building,
            "household": spec.id if spec.kind is LoadKind.HOUSEHOLD else None,
            "phase": spec.phase if single and spec.phase else "ABC",
        }
        if spec.id in placed_at:
            row["terminal"], row["pn"] = placed_at[spec.id]
        else:
            row["channel"], row["plan"] = spec.bus, _plan_of(spec)
        rows.append(row)
    return rows


def _archive_table(
    scenario: Scenario, endpoints: Endpoints, secured: Mapping[str, bool]
) -> dict[str, Any]:
    """``[archive]``: the meters of a bus without ESAM take plaintext control; a concentrator
    gets the same when none of its meters has one."""
    channels = {bus.id: {"control": "plaintext"} for bus in scenario.buses if not secured[bus.id]}
    bus_of = {spec.id: spec.bus for spec in scenario.meters}
    terminals = {
        placed.name: {"control": "plaintext"}
        for placed in endpoints.concentrators
        if not any(secured[bus_of[m.meter_id]] for m in placed.meters if m.meter_id in bus_of)
    }
    table: dict[str, Any] = {}
    if channels:
        table["channels"] = channels
    if terminals:
        table["terminals"] = terminals
    return table


def lv_channel(transformer_id: str) -> str:
    """The channel (RS-485 line) of a transformer's LV-side meter."""
    return f"lv-{transformer_id}"


def lv_plan(meter: LvMeterSpec) -> str:
    return f"{LV_PLAN}_{meter.register_map}"


_LV_TELEMETRY = (
    "voltage_a",
    "voltage_b",
    "voltage_c",
    "current_a",
    "current_b",
    "current_c",
    "power_active_total",
)


def _lv_plan(meter: LvMeterSpec, telemetry: str, billing: str) -> dict[str, Any]:
    from protocols.modbus import builtin_register_map

    quantities = builtin_register_map(meter.register_map).quantities
    reads = [
        {
            "quantities": [q for q in _LV_TELEMETRY if q in quantities],
            "interval": telemetry,
            "lane": "telemetry",
        },
        {"quantities": ["energy_active_import_total"], "interval": billing, "lane": "billing"},
    ]
    return {"reads": reads}


def _lv_meter(transformer_id: str, meter: LvMeterSpec) -> dict[str, Any]:
    """The head-end's entry for an LV-side meter: its own transformer's meter, not a load, with
    the CT/PT ratios it is installed with and its firmware's energy address."""
    entry: dict[str, Any] = {
        "id": lv_meter_id(transformer_id),
        "channel": lv_channel(transformer_id),
        "plan": lv_plan(meter),
        "unit_id": meter.unit_id,
        "register_map": meter.register_map,
        "ct_ratio": meter.ct_ratio,
        "pt_ratio": meter.pt_ratio,
        "transformer": transformer_id,
        "phase": "ABC",
        "kind": "transformer_lv",
    }
    if meter.energy_base is not None:
        entry["energy_base"] = meter.energy_base
    return entry


def _copy(value: Any) -> Any:
    """A deep copy of the plan templates, so a caller editing the result cannot change them."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def timezone_name(offset: timedelta | None) -> str:
    """An IANA name for a fixed offset: China's +8 is Asia/Shanghai (no DST), others Etc/GMT."""
    if offset is None or offset == timedelta(0):
        return "UTC"
    if offset == timedelta(hours=8):
        return "Asia/Shanghai"
    hours, rest = divmod(offset, timedelta(hours=1))
    if rest:
        raise FleetExportError(f"UTC offset {offset}: no IANA zone for a non-whole-hour offset")
    # Etc/GMT zones have POSIX signs: UTC+3 is Etc/GMT-3.
    return f"Etc/GMT{-hours:+d}"


# ---------------------------------------------------------------------- TOML text


def dump_toml(document: Mapping[str, Any]) -> str:
    """TOML text for ``document``, written by tomli-w.

    The document is checked first because tomli-w's ``TypeError`` does not say where the
    value sits: a value the fleet file cannot hold is named by its key path, and a date-time
    without a UTC offset is refused (tomli-w would write it as local time, which the fleet
    loader refuses). The file carries no comments: tomli-w writes none, and every value is
    named by its key.
    """
    _check(document, "")
    return tomli_w.dumps(document)


def _check(value: object, where: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FleetExportError(
                    f"TOML key {key!r} in {where or 'the document'}: keys must be strings"
                )
            _check(item, f"{where}.{key}" if where else key)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{where}[{index}]")
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise FleetExportError(f"TOML value at {where}: {value} has no UTC offset")
    elif not isinstance(value, bool | int | float | str):
        raise FleetExportError(
            f"TOML value at {where}: cannot write {type(value).__name__} {value!r}"
        )
