"""Scenario files: a community's layout, load assumptions, bus layout and faults, as TOML.

One file drives the physical model, the DL/T 645 / MQTT simulators and the head-end's channel
configuration, so a demo, a test and a bench all talk about the same meters. Everything is
validated at load time and every error names the file and the key, because a scenario that
half-loads produces plausible-looking but wrong figures.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulators.community.faults import Fault, FaultSchedule, MeterPlace, TargetKind
from simulators.errors import SimulatorError

if TYPE_CHECKING:
    # The schema (pydantic) is imported when a file is read, not with the scenario types.
    from simulators.scenario_file import (
        ScenarioBuildingTable,
        ScenarioFaultTable,
        ScenarioFile,
        ScenarioLoadTable,
        ScenarioTransformerTable,
    )

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
"""Where the bundled scenario files live: package data of ``simulators``, so an installed
wheel finds them as well as a source checkout."""

PHASES = ("A", "B", "C")


class ScenarioError(SimulatorError, ValueError):
    """A scenario file is unreadable or inconsistent; the message names the file and the key."""


class MeterModel(enum.StrEnum):
    SINGLE_PHASE = "single"
    THREE_PHASE = "three"


class LoadKind(enum.StrEnum):
    """What sits behind a meter; decides which load curve drives it."""

    HOUSEHOLD = "household"
    EV_PILE = "ev_pile"
    PUBLIC = "public"
    """Lifts, pumps, stair lighting: one three-phase meter per building."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """Load assumptions. Household profiles are diversified means (kW per household per hour).

    "Diversified" matters: a profile value is what one household adds to the transformer on
    average at that hour, not its own peak; individual households scatter around it.
    """

    household_profile_kw: tuple[float, ...]
    household_weekend_profile_kw: tuple[float, ...]
    household_spread: float = 0.35
    household_noise: float = 0.15
    household_shift_minutes: float = 20.0
    household_power_factor: float = 0.95
    ev_kw: float = 7.0
    ev_power_factor: float = 0.99
    ev_daily_probability: float = 0.7
    ev_arrival_mean_hour: float = 19.5
    ev_arrival_sd_hours: float = 1.0
    ev_arrival_earliest_hour: float = 17.0
    ev_arrival_latest_hour: float = 23.0
    ev_energy_min_kwh: float = 8.0
    ev_energy_max_kwh: float = 30.0
    public_profile: tuple[float, ...] = (0.3,) * 6 + (0.6,) * 3 + (0.5,) * 8 + (0.9,) * 6 + (0.5,)
    public_power_factor: float = 0.9


def lv_meter_id(transformer_id: str) -> str:
    """The id of a transformer's LV-side meter, in the fleet file and behind a concentrator."""
    return f"{transformer_id}-LV"


@dataclass(frozen=True, slots=True)
class LvMeterSpec:
    """A Modbus meter measuring the transformer itself on its LV side (the head-end's
    ``kind = "transformer_lv"``), e.g. a DTSU666 behind CTs, served on its own RS-485 line."""

    register_map: str
    unit_id: int = 1
    ct_ratio: float = 1.0
    pt_ratio: float = 1.0
    link: str = "pty"
    baud: int = 9600
    energy_base: int | None = None
    """Where the simulated firmware keeps the energy block; None: the map's own address."""


@dataclass(frozen=True, slots=True)
class TransformerSpec:
    """A distribution transformer as seen from the LV side.

    ``busbar_voltage_v`` is the no-load phase voltage at the LV busbar (tap position included);
    the load-dependent drop comes from ``impedance_percent`` (short-circuit impedance uk).
    """

    id: str
    rated_kva: float
    busbar_voltage_v: float = 235.0
    impedance_percent: float = 4.0
    x_over_r: float = 2.5
    oil_rise_rated_k: float = 55.0
    winding_gradient_rated_k: float = 23.0
    oil_time_constant_min: float = 180.0
    winding_time_constant_min: float = 7.0
    loss_ratio: float = 6.0
    lv_meter: LvMeterSpec | None = None


@dataclass(frozen=True, slots=True)
class ConcentratorSpec:
    """``[concentrators]``: the community is read through one concentrator per transformer
    (远程集抄, as State Grid communities are) that dials in to the master station."""

    heartbeat_s: float = 60.0
    keeps_days: int = 31
    """Days of daily freezes each concentrator keeps (the master's 补抄 window)."""


@dataclass(frozen=True, slots=True)
class FeederSpec:
    """A radial LV cable from a transformer; impedance per km of one phase conductor."""

    id: str
    transformer: str
    r_ohm_per_km: float
    x_ohm_per_km: float = 0.08


@dataclass(frozen=True, slots=True)
class BusSpec:
    """One RS-485 bus (one per building) behind a transparent TCP gateway (DTU)."""

    id: str
    protocol: str = "dlt645-2007"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 0
    """0: the bus simulator picks a free port at run time."""
    baud: int = 2400
    parity: str = "E"
    data_bits: int = 8
    stop_bits: int = 1
    esam_key_env: str | None = None
    """Set: secured meters whose ESAM holds the master key in this environment variable (read by
    the runner; the fleet export names it in ``[security]``)."""


@dataclass(frozen=True, slots=True)
class BuildingSpec:
    id: str
    feeder: str
    distance_m: float
    """Cable length from the transformer to where the building's riser starts."""
    riser_m: float
    """Households are spread evenly along this extra length (top floor = farthest)."""
    households: int
    ev_piles: int
    public_kw: float
    address_base: str
    bus: BusSpec


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """One meter, fully placed: the flat list every simulator and the head-end derive from."""

    id: str
    address: str
    model: MeterModel
    kind: LoadKind
    building: str
    feeder: str
    transformer: str
    bus: str
    phase: str | None
    """A/B/C for single-phase meters, None for three-phase ones."""
    distance_m: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    source: Path
    start: datetime
    utc_offset: timezone
    """Local time for load curves and midnight freezes (China: UTC+8, no DST)."""
    ambient_c: float
    frequency_hz: float
    load: LoadSpec
    transformers: tuple[TransformerSpec, ...]
    feeders: tuple[FeederSpec, ...]
    buildings: tuple[BuildingSpec, ...]
    meters: tuple[MeterSpec, ...]
    faults: tuple[Fault, ...]
    concentrators: ConcentratorSpec | None = None
    """Whether its meters are read through concentrators (``headend demo`` then runs them)."""

    def meter(self, meter_id: str) -> MeterSpec:
        for meter in self.meters:
            if meter.id == meter_id:
                return meter
        raise KeyError(f"scenario {self.name}: no meter {meter_id!r}")

    @property
    def buses(self) -> tuple[BusSpec, ...]:
        return tuple(b.bus for b in self.buildings)

    @property
    def lv_meters(self) -> tuple[tuple[TransformerSpec, LvMeterSpec], ...]:
        """The transformers that have a Modbus LV-side meter, with it."""
        return tuple((t, t.lv_meter) for t in self.transformers if t.lv_meter is not None)

    def meters_on_bus(self, bus_id: str) -> tuple[MeterSpec, ...]:
        return tuple(m for m in self.meters if m.bus == bus_id)

    def fault_schedule(self) -> FaultSchedule:
        places = {m.id: MeterPlace(bus=m.bus, transformer=m.transformer) for m in self.meters}
        return FaultSchedule(self.faults, places)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file; a bare name means ``SCENARIO_DIR/<name>.toml``."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{path.name}.toml"
    return _ScenarioParser(path).parse(_document(path, ()))


def _document(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The file's TOML, on top of its ``[scenario] base`` (another scenario, by name or path
    next to it): a variant states only what differs, so a community is described once. The
    variant's top-level tables replace the base's; ``[scenario]`` is merged key by key."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    head = document.get("scenario")
    base = head.pop("base", None) if isinstance(head, dict) else None
    if base is None:
        return document
    if not isinstance(base, str) or not base:
        raise _error(path, "scenario.base", f"expected a scenario name, got {base!r}")
    base_path = path.parent / (base if Path(base).suffix else f"{base}.toml")
    if base_path.resolve() in seen or base_path.resolve() == path.resolve():
        raise _error(path, "scenario.base", f"{base!r} is based on this file again (a cycle)")
    merged = _document(base_path, (*seen, path.resolve()))
    assert isinstance(head, dict)
    merged_head = {**merged.get("scenario", {}), **head}
    return {**merged, **document, "scenario": merged_head}


_PATTERN_PROBLEMS = {"address_base": "expected 12 decimal digits", "parity": "expected N, E or O"}


def _read_file(path: Path, document: Mapping[str, Any]) -> ScenarioFile:
    """``document`` checked against the schema; the first problem as a ``ScenarioError``."""
    from pydantic import ValidationError

    from protocols.file_schema import describe, key_path, key_text
    from simulators.scenario_file import ScenarioFile

    try:
        return ScenarioFile.model_validate(document)
    except ValidationError as exc:
        details = exc.errors(include_url=False)[0]
        loc = key_path(details)
        kind, got = details["type"], details.get("input")
        problem = describe(details)
        if kind in ("too_short", "too_long") and loc[-1] == "transformers":
            problem = "needs at least one [[transformers]]"
        elif kind in ("too_short", "too_long"):
            count = len(got) if isinstance(got, list | tuple) else got
            problem = f"expected a list of 24 hourly values, got {count}"
        elif kind == "string_pattern_mismatch":
            problem = f"{_PATTERN_PROBLEMS.get(str(loc[-1]), 'unexpected text')}, got {got!r}"
        raise _error(path, key_text(loc), problem) from None


def _error(path: Path, key: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{path}: {key or 'top level'}: {problem}")


class _ScenarioParser:
    """The schema's tables turned into the specs, with what relates tables checked here."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def parse(self, document: Mapping[str, Any]) -> Scenario:
        file = _read_file(self.path, document)
        head = file.scenario
        load = self._load(file.load)
        transformers = tuple(self._transformer(i, t) for i, t in enumerate(file.transformers))
        feeders = tuple(FeederSpec(**f.model_dump()) for f in file.feeders)
        buildings = tuple(self._building(i, b) for i, b in enumerate(file.buildings))
        self._check_references(transformers, feeders, buildings)
        meters = _place_meters(feeders, buildings)
        self._check_unique("meter address", [m.address for m in meters])
        faults = tuple(
            self._fault(i, t, meters, buildings, transformers) for i, t in enumerate(file.faults)
        )
        return Scenario(
            name=head.name,
            description=head.description,
            source=self.path,
            start=head.start,
            utc_offset=timezone(timedelta(hours=head.utc_offset_hours)),
            ambient_c=head.ambient_c,
            frequency_hz=head.frequency_hz,
            load=load,
            transformers=transformers,
            feeders=feeders,
            buildings=buildings,
            meters=meters,
            faults=faults,
            concentrators=None
            if file.concentrators is None
            else ConcentratorSpec(**file.concentrators.model_dump()),
        )

    def _transformer(self, index: int, table: ScenarioTransformerTable) -> TransformerSpec:
        values = table.model_dump(exclude={"lv_meter"})
        if table.lv_meter is None:
            return TransformerSpec(**values)
        meter = LvMeterSpec(**table.lv_meter.model_dump())
        problem = _lv_meter_problem(meter)
        if problem is not None:
            raise _error(self.path, f"transformers[{index}].lv_meter.{problem[0]}", problem[1])
        return TransformerSpec(**values, lv_meter=meter)

    def _load(self, table: ScenarioLoadTable) -> LoadSpec:
        values = table.model_dump()
        if values["household_weekend_profile_kw"] is None:
            values["household_weekend_profile_kw"] = table.household_profile_kw
        spec = LoadSpec(**values)
        if spec.ev_energy_max_kwh < spec.ev_energy_min_kwh:
            raise _error(self.path, "load.ev_energy_max_kwh", "must be >= ev_energy_min_kwh")
        if not (
            spec.ev_arrival_earliest_hour
            <= spec.ev_arrival_mean_hour
            <= spec.ev_arrival_latest_hour
            <= 24
        ):
            raise _error(
                self.path, "load.ev_arrival_mean_hour", "need earliest <= mean <= latest <= 24"
            )
        return spec

    def _building(self, index: int, table: ScenarioBuildingTable) -> BuildingSpec:
        bus = BusSpec(**{**table.bus.model_dump(), "id": table.bus.id or f"bus-{table.id}"})
        spec = BuildingSpec(**{**table.model_dump(), "bus": bus})
        if int(spec.address_base) + _meter_count(spec) > 10**12:
            raise _error(
                self.path, f"buildings[{index}].address_base", "addresses would overflow 12 digits"
            )
        return spec

    def _check_references(
        self,
        transformers: tuple[TransformerSpec, ...],
        feeders: tuple[FeederSpec, ...],
        buildings: tuple[BuildingSpec, ...],
    ) -> None:
        self._check_unique("transformer id", [t.id for t in transformers])
        self._check_unique("feeder id", [f.id for f in feeders])
        self._check_unique("building id", [b.id for b in buildings])
        self._check_unique("bus id", [b.bus.id for b in buildings])
        known_tx = {t.id for t in transformers}
        for i, feeder in enumerate(feeders):
            if feeder.transformer not in known_tx:
                raise _error(
                    self.path,
                    f"feeders[{i}].transformer",
                    f"unknown transformer {feeder.transformer!r}",
                )
        known_feeders = {f.id for f in feeders}
        for i, building in enumerate(buildings):
            if building.feeder not in known_feeders:
                raise _error(
                    self.path, f"buildings[{i}].feeder", f"unknown feeder {building.feeder!r}"
                )

    def _check_unique(self, what: str, values: list[str]) -> None:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise _error(self.path, "", f"duplicate {what} {value!r}")
            seen.add(value)

    def _fault(
        self,
        index: int,
        table: ScenarioFaultTable,
        meters: tuple[MeterSpec, ...],
        buildings: tuple[BuildingSpec, ...],
        transformers: tuple[TransformerSpec, ...],
    ) -> Fault:
        where = f"faults[{index}]"
        targets = [k for k in TargetKind if getattr(table, k.value) is not None]
        if len(targets) != 1:
            raise _error(self.path, where, "needs exactly one of 'meter', 'bus', 'transformer'")
        target_kind = targets[0]
        target: str = getattr(table, target_kind.value)
        known = {
            TargetKind.METER: {m.id for m in meters},
            TargetKind.BUS: {b.bus.id for b in buildings},
            TargetKind.TRANSFORMER: {x.id for x in transformers},
        }[target_kind]
        if target not in known:
            raise _error(
                self.path, f"{where}.{target_kind.value}", f"unknown {target_kind} {target!r}"
            )
        try:
            return Fault(
                kind=table.kind,
                target_kind=target_kind,
                target=target,
                start=table.start,
                end=table.end,
                delay_ms=table.delay_ms,
                error_word=table.error_word,
                seconds_per_day=table.seconds_per_day,
                days=table.days,
                new_address=table.new_address,
                factor=table.factor,
                garbage_length=table.garbage_length,
            )
        except ValueError as exc:
            raise _error(self.path, where, str(exc)) from None


def _lv_meter_problem(meter: LvMeterSpec) -> tuple[str, str] | None:
    """(key, problem) when the meter names a map that is not shipped, or moves a block its
    map cannot move."""
    from protocols.modbus import (
        ENERGY_BASE,
        ModbusProtocolError,
        builtin_map_names,
        builtin_register_map,
    )

    if meter.register_map not in builtin_map_names():
        known = ", ".join(builtin_map_names())
        return "register_map", f"unknown register map {meter.register_map!r} (known: {known})"
    if meter.energy_base is None:
        return None
    register_map = builtin_register_map(meter.register_map)
    if ENERGY_BASE not in register_map.bases:
        return "energy_base", f"map {meter.register_map} has no movable energy block"
    try:
        register_map.with_bases({ENERGY_BASE: meter.energy_base})
    except ModbusProtocolError as exc:
        return "energy_base", str(exc)
    return None


def _meter_count(building: BuildingSpec) -> int:
    return building.households + building.ev_piles + (1 if building.public_kw > 0 else 0)


def _place_meters(
    feeders: tuple[FeederSpec, ...],
    buildings: tuple[BuildingSpec, ...],
) -> tuple[MeterSpec, ...]:
    """Expand buildings into meters: households along the riser, phases dealt A, B, C, A ...

    EV piles sit in the car park at the building's connection point and continue the phase
    rotation so that piles do not all land on one phase.
    """
    feeder_tx = {f.id: f.transformer for f in feeders}
    meters: list[MeterSpec] = []
    for building in buildings:
        # (id, kind, phase, distance) in address order: households, piles, public meter.
        steps = max(1, building.households - 1)
        layout: list[tuple[str, LoadKind, str | None, float]] = [
            (
                f"{building.id}-H{h + 1:03d}",
                LoadKind.HOUSEHOLD,
                PHASES[h % 3],
                building.distance_m + building.riser_m * h / steps,
            )
            for h in range(building.households)
        ]
        layout += [
            (
                f"{building.id}-EV{e + 1:02d}",
                LoadKind.EV_PILE,
                PHASES[(building.households + e) % 3],
                building.distance_m,
            )
            for e in range(building.ev_piles)
        ]
        if building.public_kw > 0:
            layout.append((f"{building.id}-P", LoadKind.PUBLIC, None, building.distance_m))
        base = int(building.address_base)
        meters += [
            MeterSpec(
                id=meter_id,
                address=f"{base + offset:012d}",
                model=MeterModel.SINGLE_PHASE if phase else MeterModel.THREE_PHASE,
                kind=kind,
                building=building.id,
                feeder=building.feeder,
                transformer=feeder_tx[building.feeder],
                bus=building.bus.id,
                phase=phase,
                distance_m=distance,
            )
            for offset, (meter_id, kind, phase, distance) in enumerate(layout)
        ]
    return tuple(meters)
