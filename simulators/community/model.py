"""The community: loads, network, thermal state and registers, moved forward in simulated time.

Time is always passed in (``advance_to``), never read from the wall clock, so tests can jump to
an evening peak in microseconds and a demo can run a day in a minute. Energy registers are
integrated exactly over the per-minute demand, split at local midnights so that daily frozen
records are the register values at 00:00 local time, as a meter freezes them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt

from simulators.community.errors import TimeWentBackwardsError, UnknownMeterError
from simulators.community.faults import Fault, FaultKind, FaultSchedule
from simulators.community.load import MINUTES_PER_DAY, LoadModel
from simulators.community.network import Network, NetworkState
from simulators.community.thermal import ThermalModel
from simulators.community.values import (
    FleetArrays,
    MeterValues,
    TransformerValues,
)
from simulators.scenario import PHASES, MeterModel, Scenario

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_MINUTE = timedelta(minutes=1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Instant:
    """The solved state at the model's current time (cached until the next advance)."""

    power: FloatArray
    reactive: FloatArray
    network: NetworkState
    frequency: float


class Community:
    """A simulated residential community: build with ``from_scenario``, then ``advance_to``."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self._index = {m.id: i for i, m in enumerate(scenario.meters)}
        self._tx_index = {t.id: i for i, t in enumerate(scenario.transformers)}
        self._building_index = {b.id: i for i, b in enumerate(scenario.buildings)}
        self._local = scenario.utc_offset
        self.faults: FaultSchedule = scenario.fault_schedule()
        self._loads = LoadModel(scenario, seed)
        self._network = Network(scenario)
        self._thermal = ThermalModel(scenario.transformers, scenario.ambient_c)
        self._rated_kva = np.array([t.rated_kva for t in scenario.transformers])
        self._tan_phi = np.tan(np.arccos(self._loads.traits.power_factor))
        self._energy_import = self._loads.traits.initial_energy_kwh.copy()
        self._energy_export = np.zeros(len(scenario.meters))
        self._frozen: dict[date, FloatArray] = {}
        self._tx_offset = np.zeros(len(scenario.transformers))
        """Energy of replaced meters, kept in their transformer's register: the LV-side meter
        measures what flowed, which a customer's meter exchange does not undo."""
        self._tx_frozen: dict[date, FloatArray] = {}
        self._frozen_export: dict[date, FloatArray] = {}
        """The export register at each local midnight (a concentrator's F163)."""
        self._clock_synced: dict[str, datetime] = {}
        self._physical = [
            (fault, np.array([self._index[m] for m in self.faults.meters_reached(fault)]))
            for fault in self.faults.faults
            if fault.kind
            in (
                FaultKind.TRANSFORMER_OUTAGE,
                FaultKind.ENERGY_BACKWARDS,
                FaultKind.VOLTAGE_SAG,
                FaultKind.VOLTAGE_SWELL,
            )
        ]
        self._now = scenario.start.astimezone(UTC)
        self._instant: _Instant | None = None
        self._snapshot_every: timedelta | None = None
        self._snapshots_kept = 0
        self._snapshots: dict[datetime, dict[str, Mapping[str, float]]] = {}
        if self._is_local_midnight(self._now):
            self._freeze(self._local_date(self._now))
        self._thermal.settle(self._load_factor(self._solve()))

    @classmethod
    def from_scenario(cls, scenario: Scenario, seed: int = 0) -> Community:
        return cls(scenario, seed)

    # ----------------------------------------------------------------- time

    @property
    def now(self) -> datetime:
        """The simulated time the values describe (UTC)."""
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move simulated time forward, integrating energy and temperatures on the way."""
        if moment.tzinfo is None:
            raise ValueError(f"advance_to({moment}): time must be timezone-aware")
        target = moment.astimezone(UTC)
        if target < self._now:
            raise TimeWentBackwardsError(
                f"advance_to({target.isoformat()}): model is already at {self._now.isoformat()}"
            )
        replacements = sorted(
            {
                f.start
                for f in self.faults.of_kind(FaultKind.METER_REPLACED)
                if f.start is not None and self._now < f.start <= target
            }
        )
        while self._now < target:
            boundary = min(target, self._next_local_midnight(self._now))
            snapshot_at = self._next_snapshot(self._now)
            if snapshot_at is not None and snapshot_at < boundary:
                boundary = snapshot_at
            if replacements and replacements[0] < boundary:
                boundary = replacements[0]
            self._integrate(self._now, boundary)
            self._now = boundary
            if replacements and replacements[0] == boundary:
                self._replace_meters(replacements.pop(0))
            if self._is_local_midnight(boundary):
                self._freeze(self._local_date(boundary))
            if boundary == snapshot_at:
                self._snapshot()
        self._instant = None

    def _freeze(self, day: date) -> None:
        self._frozen[day] = self._energy_import.copy()
        self._frozen_export[day] = self._energy_export.copy()
        self._tx_frozen[day] = self._transformer_registers()

    def _transformer_registers(self) -> FloatArray:
        sums = np.bincount(
            self._network.meter_transformer,
            weights=self._energy_import,
            minlength=len(self._tx_index),
        )
        registers: FloatArray = sums.astype(np.float64) + self._tx_offset
        return registers

    def keep_snapshots(self, every: timedelta, kept: int) -> None:
        """Keep what every meter showed at each ``every`` boundary (UTC-aligned), the last
        ``kept`` of them: a meter's load profile is what it showed at past slots, which the
        model cannot be asked about once it moved on."""
        self._snapshot_every = every
        self._snapshots_kept = kept

    @property
    def keeps_snapshots(self) -> bool:
        return self._snapshot_every is not None

    def snapshot(self, meter_id: str, at: datetime) -> Mapping[str, float] | None:
        """What the meter showed at the kept boundary ``at``; None if none was kept."""
        shown = self._snapshots.get(at.astimezone(UTC))
        return None if shown is None else shown.get(meter_id)

    def _next_snapshot(self, moment: datetime) -> datetime | None:
        every = self._snapshot_every
        if every is None:
            return None
        since = moment - _EPOCH
        return _EPOCH + (since // every + 1) * every

    def _snapshot(self) -> None:
        self._instant = None  # the values of the new moment, not the cached solve
        self._snapshots[self._now] = {
            meter_id: self.meter_values(meter_id).quantities() for meter_id in self.meter_ids
        }
        while len(self._snapshots) > self._snapshots_kept:
            del self._snapshots[next(iter(self._snapshots))]

    def advance_by(self, step: timedelta) -> None:
        self.advance_to(self._now + step)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._local).date()

    def _local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), self._local).astimezone(UTC)

    def _next_local_midnight(self, moment: datetime) -> datetime:
        return self._local_midnight(self._local_date(moment) + timedelta(days=1))

    def _is_local_midnight(self, moment: datetime) -> bool:
        return self._local_midnight(self._local_date(moment)) == moment

    # ----------------------------------------------------------- integration

    def _integrate(self, start: datetime, end: datetime) -> None:
        """Integrate registers and temperatures over [start, end) inside one local day."""
        day = self._local_date(start)
        midnight = self._local_midnight(day)
        a = (start - midnight) / _MINUTE
        b = (end - midnight) / _MINUTE
        first, last = math.floor(a), min(math.ceil(b), MINUTES_PER_DAY)
        minutes = np.arange(first, last, dtype=np.float64)
        weights = np.minimum(minutes + 1.0, b) - np.maximum(minutes, a)
        demand = self._loads.day_demand(day)[first:last]
        midpoints = [midnight + (first + i + 0.5) * _MINUTE for i in range(last - first)]
        power, sign = self._apply_energy_faults(demand, midpoints)
        self._energy_import += (weights / 60.0) @ (power * sign)
        reactive = power * self._tan_phi
        p_tx = power @ self._network.membership
        q_tx = reactive @ self._network.membership
        load_factor = np.hypot(p_tx, q_tx) / self._rated_kva
        for row, minutes_held in enumerate(weights):
            self._thermal.step(load_factor[row], float(minutes_held))

    def _apply_energy_faults(
        self, demand: FloatArray, moments: list[datetime]
    ) -> tuple[FloatArray, FloatArray]:
        """Demand after outages, and the register direction (+1, or -1 running backwards)."""
        power = demand
        sign = np.ones(demand.shape[1])
        sign_rows = None
        for fault, meters in self._physical:
            if fault.kind not in (FaultKind.TRANSFORMER_OUTAGE, FaultKind.ENERGY_BACKWARDS):
                continue
            rows = np.array([fault.covers(m) for m in moments], dtype=bool)
            if not rows.any():
                continue
            if fault.kind is FaultKind.TRANSFORMER_OUTAGE:
                power = power.copy() if power is demand else power
                power[np.ix_(rows, meters)] = 0.0
            else:
                if sign_rows is None:
                    sign_rows = np.ones(demand.shape)
                sign_rows[np.ix_(rows, meters)] = -1.0
        return power, sign if sign_rows is None else sign_rows

    def _replace_meters(self, moment: datetime) -> None:
        for fault in self.faults.of_kind(FaultKind.METER_REPLACED):
            if fault.start == moment:
                index = self._index[fault.target]
                log.info("meter %s replaced at %s: register restarts at 0", fault.target, moment)
                self._tx_offset[self._network.meter_transformer[index]] += self._energy_import[
                    index
                ]
                self._energy_import[index] = 0.0
                self._energy_export[index] = 0.0

    # --------------------------------------------------------------- instant

    def _solve(self) -> _Instant:
        if self._instant is not None:
            return self._instant
        moment = self._now
        day = self._local_date(moment)
        minute = min(int((moment - self._local_midnight(day)) / _MINUTE), MINUTES_PER_DAY - 1)
        power, _ = self._apply_energy_faults(
            self._loads.day_demand(day)[minute : minute + 1], [moment]
        )
        power = power[0]
        meter_factor = np.ones(power.size)
        busbar_factor = np.ones(len(self._tx_index))
        alive = np.ones(len(self._tx_index), dtype=bool)
        for fault, meters in self._physical:
            if not fault.covers(moment):
                continue
            if fault.kind is FaultKind.TRANSFORMER_OUTAGE:
                alive[self._tx_index[fault.target]] = False
            elif fault.kind in (FaultKind.VOLTAGE_SAG, FaultKind.VOLTAGE_SWELL):
                assert fault.factor is not None
                meter_factor[meters] *= fault.factor
                if fault.target in self._tx_index:
                    busbar_factor[self._tx_index[fault.target]] *= fault.factor
        network = self._network.solve(
            power, self._loads.traits.power_factor, meter_factor, busbar_factor, alive
        )
        self._instant = _Instant(
            power=power,
            reactive=power * self._tan_phi,
            network=network,
            frequency=self._frequency(moment),
        )
        return self._instant

    def _frequency(self, moment: datetime) -> float:
        """Grid frequency: the same for every meter, wandering a few hundredths around 50 Hz."""
        minutes = moment.timestamp() / 60.0
        wander = 0.03 * math.sin(2 * math.pi * minutes / 17.0)
        wander += 0.01 * math.sin(2 * math.pi * minutes / 3.1)
        return self.scenario.frequency_hz + wander

    def _load_factor(self, instant: _Instant) -> FloatArray:
        p = instant.power @ self._network.membership
        q = instant.reactive @ self._network.membership
        result: FloatArray = np.hypot(p, q) / self._rated_kva
        return result

    # ---------------------------------------------------------------- views

    @property
    def meter_ids(self) -> tuple[str, ...]:
        return tuple(self._index)

    def _meter_index(self, meter_id: str) -> int:
        try:
            return self._index[meter_id]
        except KeyError:
            raise UnknownMeterError(
                f"scenario {self.scenario.name}: no meter {meter_id!r}"
            ) from None

    def address(self, meter_id: str) -> str:
        """The address the meter answers to now (a replaced meter has a new one)."""
        spec = self.scenario.meters[self._meter_index(meter_id)]
        return self.faults.address(meter_id, spec.address, self._now)

    def meter_values(self, meter_id: str) -> MeterValues:
        """What the meter displays now."""
        i = self._meter_index(meter_id)
        spec = self.scenario.meters[i]
        instant = self._solve()
        v = instant.network.meter_voltage[i]
        c = instant.network.meter_current[i]
        p = float(instant.power[i])
        q = float(instant.reactive[i])
        pf = p / math.hypot(p, q) if p > 0 else 1.0
        energy_in = float(self._energy_import[i])
        energy_out = float(self._energy_export[i])
        common = {
            "meter_id": meter_id,
            "address": self.address(meter_id),
            "model": spec.model,
            "phase": spec.phase,
            "timestamp": self._now,
            "power_active_total": p,
            "power_reactive_total": q,
            "power_factor_total": pf,
            "frequency": instant.frequency,
            "energy_active_import_total": energy_in,
            "energy_active_export_total": energy_out,
        }
        if spec.model is MeterModel.SINGLE_PHASE:
            assert spec.phase is not None
            k = PHASES.index(spec.phase)
            return MeterValues(
                voltage_a=float(v[k]),
                voltage_b=None,
                voltage_c=None,
                current_a=float(c[k]),
                current_b=None,
                current_c=None,
                power_active_a=p,
                power_active_b=None,
                power_active_c=None,
                **common,  # type: ignore[arg-type]
            )
        return MeterValues(
            voltage_a=float(v[0]),
            voltage_b=float(v[1]),
            voltage_c=float(v[2]),
            current_a=float(c[0]),
            current_b=float(c[1]),
            current_c=float(c[2]),
            power_active_a=p / 3.0,
            power_active_b=p / 3.0,
            power_active_c=p / 3.0,
            **common,  # type: ignore[arg-type]
        )

    def transformer_values(self, transformer_id: str) -> TransformerValues:
        """LV totals of one transformer now, as its terminal measures them."""
        try:
            t = self._tx_index[transformer_id]
        except KeyError:
            raise UnknownMeterError(
                f"scenario {self.scenario.name}: no transformer {transformer_id!r}"
            ) from None
        instant = self._solve()
        members = self._network.meter_transformer == t
        p = float(instant.power[members].sum())
        q = float(instant.reactive[members].sum())
        s = math.hypot(p, q)
        busbar = instant.network.busbar_voltage[t]
        current = instant.network.transformer_current[t]
        return TransformerValues(
            transformer_id=transformer_id,
            timestamp=self._now,
            rated_kva=float(self._rated_kva[t]),
            voltage_a=float(busbar[0]),
            voltage_b=float(busbar[1]),
            voltage_c=float(busbar[2]),
            current_a=float(current[0]),
            current_b=float(current[1]),
            current_c=float(current[2]),
            power_active_total=p,
            power_reactive_total=q,
            power_apparent_total=s,
            power_factor_total=p / s if s > 0 else 1.0,
            frequency=instant.frequency if busbar.any() else 0.0,
            load_rate=100.0 * s / float(self._rated_kva[t]),
            oil_temperature=float(self._thermal.oil_c[t]),
            winding_temperature=float(self._thermal.winding_c[t]),
            energy_active_import_total=float(
                self._energy_import[members].sum() + self._tx_offset[t]
            ),
        )

    def fleet_arrays(self) -> FleetArrays:
        """Every meter and transformer now, as arrays (copies: safe to keep and modify)."""
        instant = self._solve()
        meters = self.scenario.meters
        p_tx = instant.power @ self._network.membership
        q_tx = instant.reactive @ self._network.membership
        return FleetArrays(
            timestamp=self._now,
            meter_ids=self.meter_ids,
            meter_phase=np.array(
                [PHASES.index(m.phase) if m.phase else -1 for m in meters], dtype=np.int64
            ),
            meter_transformer=self._network.meter_transformer.copy(),
            meter_building=np.array(
                [self._building_index[m.building] for m in meters], dtype=np.int64
            ),
            voltage=instant.network.meter_voltage.copy(),
            current=instant.network.meter_current.copy(),
            power_active=instant.power.copy(),
            power_reactive=instant.reactive.copy(),
            energy_import=self._energy_import.copy(),
            energy_export=self._energy_export.copy(),
            transformer_ids=tuple(self._tx_index),
            building_ids=tuple(self._building_index),
            rated_kva=self._rated_kva.copy(),
            transformer_voltage=instant.network.busbar_voltage.copy(),
            transformer_current=instant.network.transformer_current.copy(),
            transformer_power_active=p_tx,
            transformer_power_reactive=q_tx,
            load_rate=100.0 * np.hypot(p_tx, q_tx) / self._rated_kva,
            oil_temperature=self._thermal.oil_c.copy(),
            winding_temperature=self._thermal.winding_c.copy(),
        )

    # ------------------------------------------------------ records & clock

    def daily_frozen(self, meter_id: str, day: date) -> float | None:
        """Import energy frozen at 00:00 local time on ``day``.

        None when the model has not passed that midnight (or started after it), or when a
        ``missing_frozen`` fault deletes that day's record.
        """
        i = self._meter_index(meter_id)
        for fault in self.faults.for_meter(meter_id):
            if fault.kind is FaultKind.MISSING_FROZEN and day in fault.days:
                return None
        snapshot = self._frozen.get(day)
        return None if snapshot is None else float(snapshot[i])

    def transformer_frozen(self, transformer_id: str, day: date) -> float | None:
        """The transformer's LV import register frozen at 00:00 local time on ``day`` (its
        meters' registers summed, a replaced meter's energy kept); None before that midnight."""
        try:
            t = self._tx_index[transformer_id]
        except KeyError:
            raise UnknownMeterError(
                f"scenario {self.scenario.name}: no transformer {transformer_id!r}"
            ) from None
        snapshot = self._tx_frozen.get(day)
        return None if snapshot is None else float(snapshot[t])

    def daily_frozen_export(self, meter_id: str, day: date) -> float | None:
        """Export energy frozen at 00:00 local time on ``day`` (None as ``daily_frozen``)."""
        i = self._meter_index(meter_id)
        for fault in self.faults.for_meter(meter_id):
            if fault.kind is FaultKind.MISSING_FROZEN and day in fault.days:
                return None
        snapshot = self._frozen_export.get(day)
        return None if snapshot is None else float(snapshot[i])

    def meter_clock(self, meter_id: str, moment: datetime | None = None) -> datetime:
        """The meter's own clock at simulated ``moment`` (default now), drift faults applied."""
        self._meter_index(meter_id)
        moment = self._now if moment is None else moment.astimezone(UTC)
        synced = self._clock_synced.get(meter_id)
        offset_s = 0.0
        for fault in self.faults.for_meter(meter_id):
            if fault.kind is not FaultKind.CLOCK_DRIFT:
                continue
            assert fault.seconds_per_day is not None
            begin = max(d for d in (fault.start, self.scenario.start, synced) if d is not None)
            finish = moment if fault.end is None else min(moment, fault.end)
            if finish > begin:
                offset_s += fault.seconds_per_day * (finish - begin) / timedelta(days=1)
        return moment + timedelta(seconds=offset_s)

    def sync_clock(self, meter_id: str, moment: datetime | None = None) -> None:
        """A time sync reached the meter (broadcast 08): its drift restarts from zero."""
        self._meter_index(meter_id)
        self._clock_synced[meter_id] = self._now if moment is None else moment.astimezone(UTC)

    def active_faults(self, meter_id: str) -> tuple[Fault, ...]:
        """Faults reaching the meter now; the wire simulators apply the communication ones."""
        self._meter_index(meter_id)
        return self.faults.active(meter_id, self._now)
