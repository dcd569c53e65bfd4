"""Concentrators for a scenario: one per transformer, holding the daily freezes of its meters.

Each one's store reads the community model: the F161 value of day D is the import energy the
model froze at the end of D (its ``daily_frozen`` of D + 1), F163 the export energy
(``daily_frozen_export``), F177 of a month the F161 value of its last day, its curves what
the model kept of each 15-minute slot (``Community.snapshot``, the last day), so a concentrator
and the meters' own DL/T 645 day freezes agree. pn are the transformer's meters in scenario
order, from 1.

A transformer with an LV-side meter (``lv_meter``) has it as its concentrator's last pn: the
台区总表 on the concentrator's own RS-485 port, read and frozen like the others (the head-end
reads it through the concentrator, not on Modbus). Its freeze is the model's transformer
register at 00:00 divided by CT x PT (a meter behind CTs registers secondary energy). It has
no export register in the model: its F163 is denied (no record), as a terminal denies a point
it holds no such freeze of; its curve points are not kept (EEH).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from protocols.gdw1376 import Address
from simulators.community.model import Community
from simulators.concentrator.events import TerminalLogRecord, power_off_on
from simulators.concentrator.store import FrozenStore, StoreMeter
from simulators.concentrator.terminal import ConcentratorFaults, SimulatedConcentrator
from simulators.scenario import Scenario, lv_meter_id

REGION = "4403"
LV_ADDRESS_BASE = 990000000000
"""DL/T 645 addresses of the transformers' LV meters behind concentrators (one per transformer,
far from any building's address base)."""


def lv_point_address(transformer_index: int) -> str:
    return f"{LV_ADDRESS_BASE + transformer_index + 1:012d}"


@dataclass(frozen=True, slots=True)
class ConcentratorPlan:
    master: tuple[str, int]
    """Where the master station listens (the head-end's ``[master]``)."""
    heartbeat_s: float = 60.0
    keeps_days: int = 31
    late_days: Mapping[date, int] = field(default_factory=dict)
    """Days whose first requests find no record (``ConcentratorFaults.late_days``)."""
    clock_drift_s: float = 0.0
    """How far every concentrator's clock runs ahead at start (negative: behind)."""
    power_off_minutes: float | None = None
    """The concentrators were off this long up to the start: ERC 14 in their event logs."""
    unreachable: tuple[int, ...] = ()
    """pn each concentrator cannot read: no frozen record, ERC 31 in its event log."""


@dataclass(frozen=True, slots=True)
class PlacedConcentrator:
    transformer: str
    name: str
    address: Address
    meters: tuple[StoreMeter, ...]
    concentrator: SimulatedConcentrator

    @property
    def key(self) -> str:
        return f"{self.address.region}-{self.address.terminal:05d}"


def concentrators_for(
    scenario: Scenario,
    community: Community,
    clock: Callable[[], datetime],
    plan: ConcentratorPlan,
) -> list[PlacedConcentrator]:
    """One concentrator per transformer that has meters; ``clock`` is the simulated now."""
    local = scenario.utc_offset

    def today() -> date:
        return clock().astimezone(local).date()

    def wall_clock() -> datetime:
        return clock().astimezone(local).replace(tzinfo=None)

    lv_points = {
        lv_meter_id(t.id): (t.id, meter.ct_ratio * meter.pt_ratio)
        for t, meter in scenario.lv_meters
    }

    def frozen_total(meter_id: str, day: date) -> float | None:
        if meter_id in lv_points:  # the 台区总表: secondary, behind its CTs and PTs
            transformer, ratio = lv_points[meter_id]
            total = community.transformer_frozen(transformer, day + timedelta(days=1))
            return None if total is None else total / ratio
        return community.daily_frozen(meter_id, day + timedelta(days=1))

    def frozen_export(meter_id: str, day: date) -> float | None:
        if meter_id in lv_points:  # the model keeps no export register for the 台区总表
            return None
        return community.daily_frozen_export(meter_id, day + timedelta(days=1))

    def shown(meter_id: str, wall: datetime) -> Mapping[str, float] | None:
        """A curve point: what the model kept of the meter at that 15-minute slot."""
        return community.snapshot(meter_id, wall.replace(tzinfo=local))

    placed = []
    for index, transformer in enumerate(scenario.transformers):
        specs = [m for m in scenario.meters if m.transformer == transformer.id]
        if not specs:
            continue
        meters = tuple(StoreMeter(pn, m.id, m.address) for pn, m in enumerate(specs, start=1))
        if lv_meter_id(transformer.id) in lv_points:
            total_meter = StoreMeter(
                len(meters) + 1, lv_meter_id(transformer.id), lv_point_address(index)
            )
            meters = (*meters, total_meter)
        store = FrozenStore(
            meters,
            frozen_total,
            today,
            keeps_days=plan.keeps_days,
            frozen_export=frozen_export,
            shown=shown,
        )
        store.unreachable.update(plan.unreachable)
        address = Address(REGION, index + 1)
        events: list[TerminalLogRecord] = []
        if plan.power_off_minutes is not None:
            on = wall_clock().replace(second=0, microsecond=0)
            events.append(power_off_on(on - timedelta(minutes=plan.power_off_minutes), on))
        faults = ConcentratorFaults(late_days=dict(plan.late_days), events=events)
        concentrator = SimulatedConcentrator(
            address, store, wall_clock, heartbeat_period=plan.heartbeat_s, faults=faults
        )
        concentrator.control.drift = timedelta(seconds=plan.clock_drift_s)
        placed.append(
            PlacedConcentrator(
                transformer.id, f"jzq-{transformer.id}", address, meters, concentrator
            )
        )
    return placed
