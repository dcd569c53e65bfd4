"""The API's request and response bodies: typed, so FastAPI validates input (422 naming the
field) and documents every shape in the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from headend.anomaly import SubjectKind
from headend.anomaly.alarms import Alarm
from headend.api.terminal_models import TerminalClockOut, TerminalParametersOut
from headend.collection.completeness import CompletenessRow
from headend.collection.terminal_pull import TerminalCompleteness
from headend.collection.terminal_watch import ReadingStatus
from headend.commands.audit import AuditEntry
from headend.config.fleet import MeterConfig, meter_config
from headend.config.meter_table import MeterKind, MeterTable
from headend.drivers.dlt645.control import RelayState
from headend.drivers.registry import UnknownProtocol, driver_for, known_protocols
from storage.billing import DayState, StoredPoint
from storage.records import Quality, Reading, ReadingKind, Severity

MeterId = str
GroupBy = Literal["meter", "channel", "transformer", "building"]
RelayActionName = Literal["trip", "close_permitted", "close_direct"]


def _known_protocol(protocol: str) -> str:
    """A protocol the driver registry knows; pydantic turns the ValueError (which lists the
    known ones) into a 422 naming the field."""
    try:
        driver_for(protocol)
    except UnknownProtocol as exc:
        raise ValueError(str(exc)) from None
    return protocol


ProtocolName = Annotated[
    str,
    AfterValidator(_known_protocol),
    # The registry's protocols when the API starts, so the OpenAPI document lists them.
    Field(json_schema_extra={"enum": list(known_protocols())}),
]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    collecting: bool
    meters: int
    site: str
    timezone: str = Field(
        description="The site's IANA time zone ([site] timezone): local days (billing, "
        "completeness) and the dashboard's times are in it; API timestamps are UTC"
    )


class ReadingOut(BaseModel):
    meter: str
    quantity: str
    value: float | None
    unit: str
    timestamp: datetime
    kind: ReadingKind
    quality: Quality
    reason: str | None = None

    @classmethod
    def of(cls, reading: Reading) -> ReadingOut:
        return cls(
            meter=reading.meter,
            quantity=reading.quantity,
            value=reading.value,
            unit=reading.unit,
            timestamp=reading.timestamp,
            kind=reading.kind,
            quality=reading.quality,
            reason=reading.reason,
        )


class PointOut(BaseModel):
    timestamp: datetime
    value: float | None
    unit: str
    quality: Quality
    reason: str | None = None

    @classmethod
    def of(cls, point: StoredPoint) -> PointOut:
        return cls(
            timestamp=point.timestamp,
            value=point.value,
            unit=point.unit,
            quality=point.quality,
            reason=point.reason,
        )


class History(BaseModel):
    meter: str
    quantity: str
    kind: ReadingKind
    start: datetime
    end: datetime
    points: list[PointOut]


class MeterSummary(BaseModel):
    id: str
    channel: str | None = Field(description="None for a meter a concentrator reads")
    protocol: str = Field(
        description="What the head-end speaks to reach it (gdw1376.1: its concentrator's)"
    )
    address: str | None
    unit_id: int | None
    transformer: str | None
    building: str | None
    household: str | None
    phase: str | None
    kind: MeterKind = Field(description="transformer_lv: the transformer's own LV-side meter")
    status: Literal["online", "offline"] = Field(
        description="For a concentrator meter: whether its terminal is logged in"
    )
    last_reason: str | None
    terminal: str | None = Field(default=None, description="The concentrator that reads it")
    pn: int | None = Field(default=None, description="Its measurement point on that terminal")


class BlockReadOut(BaseModel):
    supported: bool
    why: str | None = Field(description="What the meter did with the block when it refused it")


class MeterDetail(MeterSummary):
    block_reads: dict[str, BlockReadOut] = Field(
        description="Block identifier (0201FF00) -> whether the meter answers it, as learned "
        "while collecting; a refused block is read as single items"
    )
    last_pull: datetime | None = Field(
        default=None, description="Concentrator meter: when a pull last reached its terminal"
    )
    last_frozen_day: date | None = Field(
        default=None,
        description="Concentrator meter: the last day whose frozen values are stored (billed "
        "on the day after it, the freeze being at its end)",
    )
    latest: list[ReadingOut]


class MeterIn(MeterTable):
    """A meter to add (or replace, same id): a ``[[meters]]`` table of the fleet file, with its
    id required and the meter it replaces. Passwords are 8 hex digits (level + password)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    replaces: str | None = Field(
        default=None,
        description="Id of the meter this one replaces (换表): the old one leaves the fleet, "
        "its final and this meter's first energy reads are audited",
    )

    def to_config(self, protocol: str) -> MeterConfig:
        return meter_config(self, protocol)


class ReadRequestIn(BaseModel):
    quantities: list[str] | None = Field(
        default=None, description="Catalogue quantity names; omitted: everything in the plan."
    )


class RelayIn(BaseModel):
    action: RelayActionName
    reason: str = Field(
        default="",
        max_length=200,
        description="Why (unpaid, customer request, safety ...): kept in the audit trail",
    )


class AdminOrderIn(BaseModel):
    """An administrative order; ``confirm`` must repeat the meter id (it cannot be undone)."""

    order: Literal["change_password", "demand_clear", "meter_clear", "event_clear"]
    confirm: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=200)
    new_password: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Fa-f]{8}$",
        description="change_password: level + 3-byte password, 8 hex digits",
    )


class AdminOrderOut(BaseModel):
    meter: str
    order: str
    result: str
    user: str


class RelayOut(BaseModel):
    meter: str
    action: RelayActionName
    state: RelayState
    verified: bool
    user: str


class ClockOut(BaseModel):
    meter: str
    drift_seconds: float


class TimeSyncOut(BaseModel):
    channels: int


class CompletenessOut(BaseModel):
    group: str
    day: date
    expected: int
    received: int
    backfilled: int
    success_rate: float
    failures: dict[str, int]

    @classmethod
    def of(cls, row: CompletenessRow) -> CompletenessOut:
        return cls(
            group=row.group,
            day=row.day,
            expected=row.expected,
            received=row.received,
            backfilled=row.backfilled,
            success_rate=row.success_rate,
            failures=row.failures,
        )


class TerminalCompletenessOut(BaseModel):
    """The frozen pull's meter-days over the days the terminal keeps before ``day``."""

    day: date
    days: int
    meters: int
    expected: int
    first_attempt: int = Field(description="Stored by the pull right after the freeze")
    backfilled: int = Field(description="Stored later, by a re-read (补抄)")
    missing: int
    first_attempt_rate: float = Field(description="first_attempt / expected")
    success_rate: float = Field(description="(first_attempt + backfilled) / expected")

    @classmethod
    def of(cls, day: date, figures: TerminalCompleteness) -> TerminalCompletenessOut:
        expected = figures.expected
        return cls(
            day=day,
            days=figures.days,
            meters=figures.meters,
            expected=expected,
            first_attempt=figures.first_attempt,
            backfilled=figures.backfilled,
            missing=figures.missing,
            first_attempt_rate=figures.first_attempt / expected if expected else 0.0,
            success_rate=(figures.first_attempt + figures.backfilled) / expected
            if expected
            else 0.0,
        )


class PortStatusOut(BaseModel):
    """One port of the terminal's own reading status (AFN 0C F11), as it reports it."""

    port: int = Field(description="31: the carrier (HPLC) port; 1..30 RS-485 and others")
    meters: int = Field(description="Meters the terminal has on the port")
    read_ok: int = Field(description="Meters it read in its current round")
    key_read_ok: int = Field(description="Key (重点) meters read")
    status: int = Field(description="Status bits: D0 reading now, D1 the round finished")
    started: datetime | None = Field(description="Round start, the terminal's wall clock")
    finished: datetime | None = Field(description="Round end, the terminal's wall clock")


class ReadingStatusOut(BaseModel):
    asked_at: datetime = Field(description="When the master last asked for it (after a pull)")
    ports: list[PortStatusOut]

    @classmethod
    def of(cls, status: ReadingStatus | None) -> ReadingStatusOut | None:
        if status is None:
            return None
        ports = [PortStatusOut.model_validate(port, from_attributes=True) for port in status.ports]
        return cls(asked_at=status.asked_at, ports=ports)


class TerminalOut(BaseModel):
    name: str
    address: str = Field(description="Region code and terminal address, 4403-00012")
    transformer: str | None
    status: Literal["online", "offline"] = Field(description="Logged in now or not")
    meters: int
    keeps_days: int
    last_pull: datetime | None = Field(description="When a pull pass last reached it")
    archive_differences: int = Field(
        description="Meter archive differences found at its last login"
    )
    completeness: TerminalCompletenessOut
    parameters: TerminalParametersOut | None = Field(
        default=None, description="Its heartbeat period and master address (AFN 0A F1/F3)"
    )
    clock: TerminalClockOut | None = Field(
        default=None, description="Its latest clock check (at login, daily or asked for)"
    )
    reading_status: ReadingStatusOut | None = Field(
        default=None, description="The terminal's own reading status (AFN 0C F11), if asked"
    )


class AlarmOut(BaseModel):
    id: str
    subject_kind: SubjectKind
    subject: str
    kind: str = Field(
        description="An anomaly rule's kind (voltage_low, overload, outage, ...) or a head-end "
        "event (meter_offline, relay_trip, ...)"
    )
    severity: Severity
    start: datetime
    end: datetime | None
    open: bool
    value: float | None
    peak: float | None
    unit: str
    message: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, alarm: Alarm) -> AlarmOut:
        return cls(
            id=alarm.id,
            subject_kind=SubjectKind(alarm.subject_kind),
            subject=alarm.subject,
            kind=alarm.kind,
            severity=Severity(alarm.severity),
            start=alarm.start,
            end=alarm.end,
            open=alarm.open,
            value=alarm.value,
            peak=alarm.peak,
            unit=alarm.unit,
            message=alarm.message,
            acknowledged_by=alarm.acknowledged_by,
            acknowledged_at=alarm.acknowledged_at,
        )


class AuditOut(BaseModel):
    id: str
    at: datetime
    user: str
    meter: str = Field(description="Meter id, or * for a broadcast to a whole channel")
    command: str
    outcome: str = Field(
        description="intent (written before the command acted), then ok, refused, failed, "
        "unverified or unknown in an entry whose ref is the intent's id"
    )
    detail: str
    ref: str = Field(description="For an outcome: the id of its intent entry")
    data: dict[str, Any] = Field(description="Facts of a meter replacement, else empty")

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            id=entry.id,
            at=entry.at,
            user=entry.user,
            meter=entry.meter,
            command=entry.command,
            outcome=entry.outcome,
            detail=entry.detail,
            ref=entry.ref,
            data=dict(entry.data),
        )


class DailyOut(BaseModel):
    meter: str
    day: date
    quantity: str
    state: DayState
    value: float | None
    unit: str
    quality: Quality | None
    timestamp: datetime | None
    reason: str | None
    tariff: str | None = None
    """The site's name of a ``_tN`` quantity's tariff (``[site] tariff_names``), else None."""


class IntervalOut(BaseModel):
    meter: str
    quantity: str
    timestamp: datetime
    value: float | None
    unit: str
    quality: Quality
    reason: str | None
    tariff: str | None = None
    """As ``DailyOut.tariff``."""


class BillingOut(BaseModel):
    start: date
    end: date
    meters: list[str]
    next_cursor: str | None = None
    """Pass as ``cursor`` for the next page; None on the last one."""
    daily: list[DailyOut]
    intervals: list[IntervalOut]
    not_collected: int


class VoltageBand(BaseModel):
    low: float
    high: float
    nominal: float


class GroupView(BaseModel):
    """Live figures of a building's load meters, from the latest reading of each."""

    name: str
    meters: int
    online: int
    voltage_min: float | None
    voltage_avg: float | None
    load_kw: float | None
    """Sum of the latest active power of the meters that have one, in kW."""


class TerminalView(BaseModel):
    """What a transformer's terminal itself last reported."""

    device: str
    power_kw: float | None
    load_rate: float | None
    """The terminal's own load rate (its % / 100: 1.0 = 100 %)."""
    timestamp: datetime


class TransformerView(BaseModel):
    """A transformer: its load meters (never its own LV-side meter) and the load the rules judge."""

    name: str
    meters: int
    """Load meters under this transformer (its LV-side meters are in ``lv_meters``)."""
    online: int
    voltage_min: float | None
    voltage_avg: float | None
    meters_kw: float | None
    """Sum of the load meters read now, in kW (not scaled up for the silent ones); None when
    none has a current power reading."""
    meters_answered: int
    """Load meters with a current power reading (the share the rules scale up by)."""
    load_kw: float | None
    """The active power the load rules judge: terminal or LV-side meter, else the meters'
    scaled sum; None when neither is known well enough."""
    rated_kva: float
    load_rate: float | None
    """``load_kw`` over rated kVA with the rules' assumed power factor (1.0 = 100 %): the same
    number the heavy-load and overload alarms carry."""
    load_source: Literal["terminal", "meters"] | None
    terminal: TerminalView | None
    lv_meters: list[str]


class FleetOut(BaseModel):
    site: str
    now: datetime
    voltage_band: VoltageBand
    load_limits: dict[str, float]
    transformers: list[TransformerView]
    buildings: list[GroupView]
