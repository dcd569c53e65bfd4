"""The schema of a scenario file, as pydantic models: what each key must be, ranges included.

Scenarios are package data and user-written (``headend simulate FILE``); a typo must fail
naming the file and the key path, never fall back to a default, because a scenario that
half-loads produces plausible-looking but wrong figures. What relates keys to each other
(references between tables, duplicate ids, a fault's target) is checked by ``scenario.py``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from simulators.community.faults import FaultKind


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"expected a date-time with UTC offset, got {value.isoformat()}")
    return value


def _day(value: object) -> object:
    """A TOML date; a date-time is a ``date`` to Python but not a day of the file."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"expected a date (YYYY-MM-DD), got {value!r}")
    return value


Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
NonNegative = Annotated[Number, Field(ge=0.0)]
Positive = Annotated[Number, Field(gt=0.0)]
PowerFactor = Annotated[Number, Field(gt=0.0, le=1.0)]
Integer = Annotated[int, Strict()]
Text = Annotated[str, Strict(), Field(min_length=1)]
Moment = Annotated[datetime, Strict(), AfterValidator(_aware)]
Day = Annotated[date, BeforeValidator(_day)]
Profile = Annotated[tuple[NonNegative, ...], Field(min_length=24, max_length=24)]
"""24 hourly values, the first for 00:00-01:00 local time."""
Address = Annotated[str, Strict(), Field(pattern=r"^[0-9]{12}$")]


class ScenarioTable(_Table):
    name: Text
    description: Annotated[str, Strict()] = ""
    start: Moment
    utc_offset_hours: Number = 8.0
    ambient_c: Number = 25.0
    frequency_hz: Positive = 50.0


class ScenarioLoadTable(_Table):
    """Defaults are ``LoadSpec``'s (a test checks they agree)."""

    household_profile_kw: Profile
    household_weekend_profile_kw: Profile | None = None
    """None: the weekday profile."""
    household_spread: NonNegative = 0.35
    household_noise: NonNegative = 0.15
    household_shift_minutes: NonNegative = 20.0
    household_power_factor: PowerFactor = 0.95
    ev_kw: Positive = 7.0
    ev_power_factor: PowerFactor = 0.99
    ev_daily_probability: Annotated[Number, Field(ge=0.0, le=1.0)] = 0.7
    ev_arrival_mean_hour: NonNegative = 19.5
    ev_arrival_sd_hours: NonNegative = 1.0
    ev_arrival_earliest_hour: NonNegative = 17.0
    ev_arrival_latest_hour: NonNegative = 23.0
    ev_energy_min_kwh: Positive = 8.0
    ev_energy_max_kwh: Positive = 30.0
    public_profile: Profile = (0.3,) * 6 + (0.6,) * 3 + (0.5,) * 8 + (0.9,) * 6 + (0.5,)
    public_power_factor: PowerFactor = 0.9


class ScenarioLvMeterTable(_Table):
    """A Modbus RTU meter on the transformer's LV side (behind CTs); defaults are
    ``LvMeterSpec``'s."""

    register_map: Text
    unit_id: Annotated[Integer, Field(ge=1, le=247)] = 1
    ct_ratio: Positive = 1.0
    pt_ratio: Positive = 1.0
    link: Literal["pty"] = "pty"
    """``pty``: RTU on a pseudo-terminal the head-end opens like a USB RS-485 adapter."""
    baud: Annotated[Integer, Field(ge=300)] = 9600
    energy_base: Annotated[Integer, Field(ge=0, le=0xFFFF)] | None = None
    """Where this meter's firmware keeps its energy block, when not at the map's address."""


class ScenarioTransformerTable(_Table):
    """Defaults are ``TransformerSpec``'s (a test checks they agree)."""

    id: Text
    rated_kva: Positive
    busbar_voltage_v: NonNegative = 235.0
    impedance_percent: Positive = 4.0
    x_over_r: Positive = 2.5
    oil_rise_rated_k: NonNegative = 55.0
    winding_gradient_rated_k: NonNegative = 23.0
    oil_time_constant_min: Positive = 180.0
    winding_time_constant_min: Positive = 7.0
    loss_ratio: NonNegative = 6.0
    lv_meter: ScenarioLvMeterTable | None = None


class ScenarioFeederTable(_Table):
    id: Text
    transformer: Text
    r_ohm_per_km: NonNegative
    x_ohm_per_km: NonNegative = 0.08


class ScenarioBusTable(_Table):
    id: Text | None = None
    """None: ``bus-<building id>``."""
    protocol: Text = "dlt645-2007"
    gateway_host: Text = "127.0.0.1"
    gateway_port: Annotated[Integer, Field(ge=0, le=65535)] = 0
    """0: the bus simulator picks a free port at run time."""
    baud: Annotated[Integer, Field(ge=300)] = 2400
    parity: Annotated[str, Strict(), Field(pattern="^[NEO]$")] = "E"
    data_bits: Annotated[Integer, Field(ge=5)] = 8
    stop_bits: Annotated[Integer, Field(ge=1)] = 1
    esam_key_env: Text | None = None
    """Set: the bus's meters are secured (State Grid, ESAM); the variable holds the master key."""


class ScenarioBuildingTable(_Table):
    id: Text
    feeder: Text
    distance_m: NonNegative
    riser_m: NonNegative = 0.0
    households: Annotated[Integer, Field(ge=0)]
    ev_piles: Annotated[Integer, Field(ge=0)] = 0
    public_kw: NonNegative = 0.0
    address_base: Address
    bus: ScenarioBusTable = ScenarioBusTable()


class ScenarioFaultTable(_Table):
    """One ``[[faults]]`` entry; which parameter a kind needs is ``Fault``'s own check."""

    kind: FaultKind
    meter: Text | None = None
    bus: Text | None = None
    transformer: Text | None = None
    start: Moment | None = None
    end: Moment | None = None
    delay_ms: Number | None = None
    error_word: Annotated[Integer, Field(ge=0)] | None = None
    seconds_per_day: Number | None = None
    days: tuple[Day, ...] = ()
    new_address: Text | None = None
    factor: Number | None = None
    garbage_length: Annotated[Integer, Field(ge=1)] = 8


class ScenarioConcentratorsTable(_Table):
    """``[concentrators]``: each transformer's meters are read by a Q/GDW 1376.1 concentrator."""

    heartbeat_s: Positive = 60.0
    keeps_days: Annotated[Integer, Field(ge=1, le=62)] = 31


class ScenarioFile(_Table):
    scenario: ScenarioTable
    load: ScenarioLoadTable
    transformers: Annotated[tuple[ScenarioTransformerTable, ...], Field(min_length=1)]
    feeders: tuple[ScenarioFeederTable, ...] = ()
    buildings: tuple[ScenarioBuildingTable, ...] = ()
    faults: tuple[ScenarioFaultTable, ...] = ()
    concentrators: ScenarioConcentratorsTable | None = None
