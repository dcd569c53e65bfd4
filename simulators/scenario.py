"""Scenario files: a community's layout, load assumptions, bus layout and faults, as TOML.

One file drives the physical model, the DL/T 645 / MQTT simulators and the head-end's channel
configuration, so a demo, a test and a bench all talk about the same meters. Everything is
validated at load time and every error names the file and the key, because a scenario that
half-loads produces plausible-looking but wrong figures.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from simulators.community.faults import Fault, FaultKind, FaultSchedule, MeterPlace, TargetKind
from simulators.errors import SimulatorError

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
"""Where the bundled scenario files live: package data of ``simulators``, so an installed
wheel finds them as well as a source checkout."""

PHASES = ("A", "B", "C")

T = TypeVar("T")


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

    def meter(self, meter_id: str) -> MeterSpec:
        for meter in self.meters:
            if meter.id == meter_id:
                return meter
        raise KeyError(f"scenario {self.name}: no meter {meter_id!r}")

    @property
    def buses(self) -> tuple[BusSpec, ...]:
        return tuple(b.bus for b in self.buildings)

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
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    return _ScenarioParser(path).parse(document)


class _Table:
    """One TOML table with typed getters whose errors name the file and the key path."""

    def __init__(self, path: Path, where: str, data: object) -> None:
        self.path = path
        self.where = where
        if not isinstance(data, dict):
            raise self.error(f"expected a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def error(self, message: str, key: str | None = None) -> ScenarioError:
        place = ".".join(p for p in (self.where, key) if p) or "top level"
        return ScenarioError(f"{self.path}: {place}: {message}")

    def _get(self, key: str, default: object, check: Callable[[object], T], what: str) -> T:
        self.seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error("missing required key", key)
            return default  # type: ignore[return-value]
        value = self.data[key]
        try:
            return check(value)
        except (TypeError, ValueError) as exc:
            detail = f" ({exc})" if str(exc) else ""
            raise self.error(f"expected {what}, got {value!r}{detail}", key) from None

    def text(self, key: str, default: object = None) -> str:
        return self._get(key, _REQUIRED if default is None else default, _as_text, "a string")

    def number(
        self, key: str, default: object = None, *, minimum: float | None = None, above: bool = False
    ) -> float:
        def check(value: object) -> float:
            number = _as_number(value)
            if minimum is not None and (number <= minimum if above else number < minimum):
                raise ValueError(f"must be {'>' if above else '>='} {minimum}")
            return number

        return self._get(key, _REQUIRED if default is None else default, check, "a number")

    def integer(self, key: str, default: object = None, *, minimum: int = 0) -> int:
        def check(value: object) -> int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError
            if value < minimum:
                raise ValueError(f"must be >= {minimum}")
            return value

        return self._get(key, _REQUIRED if default is None else default, check, "an integer")

    def profile(self, key: str, default: object = None) -> tuple[float, ...]:
        def check(value: object) -> tuple[float, ...]:
            if not isinstance(value, list) or len(value) != 24:
                raise ValueError("24 hourly values")
            numbers = tuple(_as_number(v) for v in value)
            if any(n < 0 for n in numbers):
                raise ValueError("values must be >= 0")
            return numbers

        return self._get(key, _REQUIRED if default is None else default, check, "a list")

    def moment(self, key: str, *, required: bool = True) -> datetime | None:
        def check(value: object) -> datetime:
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise TypeError
            return value

        default: object = _REQUIRED if required else _NONE
        found = self._get(key, default, check, "a date-time with UTC offset")
        return None if found is _NONE else found

    def tables(self, key: str) -> list[_Table]:
        self.seen.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.error("expected an array of tables ([[...]])", key)
        return [_Table(self.path, f"{key}[{i}]", item) for i, item in enumerate(value)]

    def table(self, key: str) -> _Table:
        self.seen.add(key)
        prefix = f"{self.where}." if self.where else ""
        return _Table(self.path, f"{prefix}{key}", self.data.get(key, {}))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(f"unknown key(s) {', '.join(unknown)}")


_REQUIRED = object()
_NONE = object()


def _as_text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def _as_number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


class _ScenarioParser:
    def __init__(self, path: Path) -> None:
        self.path = path

    def parse(self, document: Mapping[str, Any]) -> Scenario:
        root = _Table(self.path, "", dict(document))
        head = root.table("scenario")
        name = head.text("name")
        description = head.text("description", "")
        start = head.moment("start")
        assert start is not None
        offset_hours = head.number("utc_offset_hours", 8.0)
        ambient_c = head.number("ambient_c", 25.0)
        frequency_hz = head.number("frequency_hz", 50.0, minimum=0, above=True)
        head.finish()
        load = self._load(root.table("load"))
        transformers = tuple(self._transformer(t) for t in root.tables("transformers"))
        feeders = tuple(self._feeder(t) for t in root.tables("feeders"))
        buildings = tuple(self._building(t) for t in root.tables("buildings"))
        fault_tables = root.tables("faults")
        root.finish()
        if not transformers:
            raise root.error("needs at least one [[transformers]]")
        self._check_references(root, transformers, feeders, buildings)
        meters = _place_meters(feeders, buildings)
        self._check_unique(root, "meter address", [m.address for m in meters])
        faults = tuple(self._fault(t, meters, buildings, transformers) for t in fault_tables)
        return Scenario(
            name=name,
            description=description,
            source=self.path,
            start=start,
            utc_offset=timezone(timedelta(hours=offset_hours)),
            ambient_c=ambient_c,
            frequency_hz=frequency_hz,
            load=load,
            transformers=transformers,
            feeders=feeders,
            buildings=buildings,
            meters=meters,
            faults=faults,
        )

    def _load(self, t: _Table) -> LoadSpec:
        weekday = t.profile("household_profile_kw")
        defaults = LoadSpec(weekday, weekday)
        spec = LoadSpec(
            household_profile_kw=weekday,
            household_weekend_profile_kw=t.profile("household_weekend_profile_kw", weekday),
            household_spread=t.number("household_spread", defaults.household_spread, minimum=0),
            household_noise=t.number("household_noise", defaults.household_noise, minimum=0),
            household_shift_minutes=t.number(
                "household_shift_minutes", defaults.household_shift_minutes, minimum=0
            ),
            household_power_factor=self._pf(t, "household_power_factor", defaults),
            ev_kw=t.number("ev_kw", defaults.ev_kw, minimum=0, above=True),
            ev_power_factor=self._pf(t, "ev_power_factor", defaults),
            ev_daily_probability=t.number(
                "ev_daily_probability", defaults.ev_daily_probability, minimum=0
            ),
            ev_arrival_mean_hour=t.number(
                "ev_arrival_mean_hour", defaults.ev_arrival_mean_hour, minimum=0
            ),
            ev_arrival_sd_hours=t.number(
                "ev_arrival_sd_hours", defaults.ev_arrival_sd_hours, minimum=0
            ),
            ev_arrival_earliest_hour=t.number(
                "ev_arrival_earliest_hour", defaults.ev_arrival_earliest_hour, minimum=0
            ),
            ev_arrival_latest_hour=t.number(
                "ev_arrival_latest_hour", defaults.ev_arrival_latest_hour, minimum=0
            ),
            ev_energy_min_kwh=t.number(
                "ev_energy_min_kwh", defaults.ev_energy_min_kwh, minimum=0, above=True
            ),
            ev_energy_max_kwh=t.number(
                "ev_energy_max_kwh", defaults.ev_energy_max_kwh, minimum=0, above=True
            ),
            public_profile=t.profile("public_profile", defaults.public_profile),
            public_power_factor=self._pf(t, "public_power_factor", defaults),
        )
        t.finish()
        if spec.ev_daily_probability > 1:
            raise t.error("must be <= 1", "ev_daily_probability")
        if spec.ev_energy_max_kwh < spec.ev_energy_min_kwh:
            raise t.error("must be >= ev_energy_min_kwh", "ev_energy_max_kwh")
        if not (
            spec.ev_arrival_earliest_hour
            <= spec.ev_arrival_mean_hour
            <= spec.ev_arrival_latest_hour
            <= 24
        ):
            raise t.error("need earliest <= mean <= latest <= 24", "ev_arrival_mean_hour")
        return spec

    @staticmethod
    def _pf(t: _Table, key: str, defaults: LoadSpec) -> float:
        value = t.number(key, getattr(defaults, key), minimum=0, above=True)
        if value > 1:
            raise t.error("a power factor must be in (0, 1]", key)
        return value

    def _transformer(self, t: _Table) -> TransformerSpec:
        d = TransformerSpec("", 1.0)
        spec = TransformerSpec(
            id=t.text("id"),
            rated_kva=t.number("rated_kva", minimum=0, above=True),
            busbar_voltage_v=t.number("busbar_voltage_v", d.busbar_voltage_v, minimum=0),
            impedance_percent=t.number(
                "impedance_percent", d.impedance_percent, minimum=0, above=True
            ),
            x_over_r=t.number("x_over_r", d.x_over_r, minimum=0, above=True),
            oil_rise_rated_k=t.number("oil_rise_rated_k", d.oil_rise_rated_k, minimum=0),
            winding_gradient_rated_k=t.number(
                "winding_gradient_rated_k", d.winding_gradient_rated_k, minimum=0
            ),
            oil_time_constant_min=t.number(
                "oil_time_constant_min", d.oil_time_constant_min, minimum=0, above=True
            ),
            winding_time_constant_min=t.number(
                "winding_time_constant_min", d.winding_time_constant_min, minimum=0, above=True
            ),
            loss_ratio=t.number("loss_ratio", d.loss_ratio, minimum=0),
        )
        t.finish()
        return spec

    def _feeder(self, t: _Table) -> FeederSpec:
        spec = FeederSpec(
            id=t.text("id"),
            transformer=t.text("transformer"),
            r_ohm_per_km=t.number("r_ohm_per_km", minimum=0),
            x_ohm_per_km=t.number("x_ohm_per_km", 0.08, minimum=0),
        )
        t.finish()
        return spec

    def _building(self, t: _Table) -> BuildingSpec:
        building_id = t.text("id")
        address_base = t.text("address_base")
        if len(address_base) != 12 or not address_base.isdigit():
            raise t.error(f"expected 12 decimal digits, got {address_base!r}", "address_base")
        b = t.table("bus")
        parity = b.text("parity", "E")
        if parity not in ("N", "E", "O"):
            raise b.error(f"expected N, E or O, got {parity!r}", "parity")
        bus = BusSpec(
            id=b.text("id", f"bus-{building_id}"),
            protocol=b.text("protocol", "dlt645-2007"),
            gateway_host=b.text("gateway_host", "127.0.0.1"),
            gateway_port=b.integer("gateway_port", 0),
            baud=b.integer("baud", 2400, minimum=300),
            parity=parity,
            data_bits=b.integer("data_bits", 8, minimum=5),
            stop_bits=b.integer("stop_bits", 1, minimum=1),
        )
        b.finish()
        spec = BuildingSpec(
            id=building_id,
            feeder=t.text("feeder"),
            distance_m=t.number("distance_m", minimum=0),
            riser_m=t.number("riser_m", 0.0, minimum=0),
            households=t.integer("households", minimum=0),
            ev_piles=t.integer("ev_piles", 0),
            public_kw=t.number("public_kw", 0.0, minimum=0),
            address_base=address_base,
            bus=bus,
        )
        t.finish()
        if int(address_base) + _meter_count(spec) > 10**12:
            raise t.error("addresses would overflow 12 digits", "address_base")
        return spec

    def _check_references(
        self,
        root: _Table,
        transformers: tuple[TransformerSpec, ...],
        feeders: tuple[FeederSpec, ...],
        buildings: tuple[BuildingSpec, ...],
    ) -> None:
        self._check_unique(root, "transformer id", [t.id for t in transformers])
        self._check_unique(root, "feeder id", [f.id for f in feeders])
        self._check_unique(root, "building id", [b.id for b in buildings])
        self._check_unique(root, "bus id", [b.bus.id for b in buildings])
        known_tx = {t.id for t in transformers}
        for i, feeder in enumerate(feeders):
            if feeder.transformer not in known_tx:
                raise ScenarioError(
                    f"{self.path}: feeders[{i}].transformer: unknown transformer "
                    f"{feeder.transformer!r}"
                )
        known_feeders = {f.id for f in feeders}
        for i, building in enumerate(buildings):
            if building.feeder not in known_feeders:
                raise ScenarioError(
                    f"{self.path}: buildings[{i}].feeder: unknown feeder {building.feeder!r}"
                )

    def _check_unique(self, root: _Table, what: str, values: list[str]) -> None:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise root.error(f"duplicate {what} {value!r}")
            seen.add(value)

    def _fault(
        self,
        t: _Table,
        meters: tuple[MeterSpec, ...],
        buildings: tuple[BuildingSpec, ...],
        transformers: tuple[TransformerSpec, ...],
    ) -> Fault:
        kind_text = t.text("kind")
        try:
            kind = FaultKind(kind_text)
        except ValueError:
            choices = ", ".join(k.value for k in FaultKind)
            raise t.error(f"unknown fault kind {kind_text!r} (one of {choices})", "kind") from None
        targets = [k for k in TargetKind if k.value in t.data]
        if len(targets) != 1:
            raise t.error("needs exactly one of 'meter', 'bus', 'transformer'")
        target_kind = targets[0]
        target = t.text(target_kind.value)
        known = {
            TargetKind.METER: {m.id for m in meters},
            TargetKind.BUS: {b.bus.id for b in buildings},
            TargetKind.TRANSFORMER: {x.id for x in transformers},
        }[target_kind]
        if target not in known:
            raise t.error(f"unknown {target_kind} {target!r}", target_kind.value)
        days = self._days(t)
        error_word = t.integer("error_word", -1)
        garbage_length = t.integer("garbage_length", 8, minimum=1)
        try:
            fault = Fault(
                kind=kind,
                target_kind=target_kind,
                target=target,
                start=t.moment("start", required=False),
                end=t.moment("end", required=False),
                delay_ms=_optional(t, "delay_ms"),
                error_word=None if error_word < 0 else error_word,
                seconds_per_day=_optional(t, "seconds_per_day"),
                days=days,
                new_address=t.text("new_address", "") or None,
                factor=_optional(t, "factor"),
                garbage_length=garbage_length,
            )
        except ValueError as exc:
            raise t.error(str(exc)) from None
        t.finish()
        return fault

    @staticmethod
    def _days(t: _Table) -> tuple[date, ...]:
        def check(value: object) -> tuple[date, ...]:
            if not isinstance(value, list):
                raise TypeError
            days = []
            for item in value:
                if not isinstance(item, date) or isinstance(item, datetime):
                    raise TypeError
                days.append(item)
            return tuple(days)

        return t._get("days", (), check, "a list of dates (YYYY-MM-DD)")


def _optional(t: _Table, key: str) -> float | None:
    value = t.number(key, _NONE)
    return None if value is _NONE else value


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
