"""Small synthetic fleets for the anomaly tests.

``run_scenario`` takes plain arrays (voltage and power per meter per step), so the community
model in ``simulators/community`` can replace ``evening_community`` without touching the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from headend.anomaly import AnomalyConfig, AnomalyDetector, AnomalyEvent, FleetLayout

T0 = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
FloatArray = npt.NDArray[np.float64]


def layout(
    meters_per_transformer: Sequence[int],
    rated_kva: Sequence[float] | None = None,
    buildings_per_transformer: int = 1,
    three_phase: npt.ArrayLike | None = None,
    expects_export: npt.ArrayLike | None = None,
) -> FleetLayout:
    """Meters listed transformer by transformer, split evenly into that transformer's buildings."""
    counts = np.asarray(meters_per_transformer)
    meter_transformer = np.repeat(np.arange(counts.size), counts)
    meter_building = np.concatenate(
        [
            tx * buildings_per_transformer
            + (np.arange(count) * buildings_per_transformer) // max(count, 1)
            for tx, count in enumerate(counts)
        ]
    ).astype(np.intp)
    n = int(counts.sum())
    return FleetLayout(
        meter_ids=[f"m{i}" for i in range(n)],
        transformer_ids=[f"t{i}" for i in range(counts.size)],
        rated_kva=rated_kva if rated_kva is not None else [400.0] * counts.size,
        meter_transformer=meter_transformer,
        building_ids=[f"b{i}" for i in range(counts.size * buildings_per_transformer)],
        meter_building=meter_building,
        three_phase=three_phase,
        expects_export=expects_export,
    )


def run_scenario(
    fleet: FleetLayout,
    times: Sequence[datetime],
    voltage: FloatArray,
    power_kw: FloatArray,
    config: AnomalyConfig | None = None,
) -> list[AnomalyEvent]:
    """Sweep once per step with phase-A voltage (steps, n) and power (steps, n) per meter."""
    detector = AnomalyDetector(fleet, config)
    events: list[AnomalyEvent] = []
    for step, now in enumerate(times):
        detector.snapshot.voltage[0] = voltage[step]
        detector.snapshot.power_kw[:] = power_kw[step]
        events += detector.sweep(now)
    return events


@dataclass(frozen=True)
class Community:
    """A residential compound: its layout and a day of voltages and powers."""

    layout: FleetLayout
    times: list[datetime]
    voltage: FloatArray
    power_kw: FloatArray


def evening_community(
    rated_kva: Sequence[float],
    households: int = 252,
    buildings: int = 7,
    peak_kw: float = 1.6,
    seed: int = 7,
) -> Community:
    """Households on one feeder per transformer, with an evening peak from 18:00 to 21:00.

    Voltage model: 231 V at the transformer at no load (tap +5 %), minus the transformer's own
    drop (4 % impedance times load rate), minus a feeder drop growing with the transformer's load
    and the household's distance along its feeder. Buildings are shared out over transformers in
    order; a retrofit with a second transformer halves the feeder length too.
    """
    rng = np.random.default_rng(seed)
    per_building = households // buildings
    transformers = len(rated_kva)
    building_tx = (np.arange(buildings) * transformers) // buildings
    meter_building = np.repeat(np.arange(buildings), per_building)
    meter_tx = building_tx[meter_building]
    n = meter_building.size
    fleet = FleetLayout(
        meter_ids=[f"hh{i:03d}" for i in range(n)],
        transformer_ids=[f"tx{i}" for i in range(transformers)],
        rated_kva=rated_kva,
        meter_transformer=meter_tx,
        building_ids=[f"bldg{i}" for i in range(buildings)],
        meter_building=meter_building,
    )
    # Position along the feeder: buildings in order, floors within a building.
    first_building = np.array([np.flatnonzero(building_tx == tx)[0] for tx in range(transformers)])
    per_tx_buildings = np.bincount(building_tx, minlength=transformers)
    floor = np.tile(np.linspace(0, 1, per_building), buildings)
    rank = meter_building - first_building[meter_tx] + floor
    position = (rank + 0.5) / per_tx_buildings[meter_tx]
    feeder_length = 1.0 / transformers

    times = [T0 + timedelta(minutes=15 * k) for k in range(96)]
    hours = np.array([t.hour + t.minute / 60 for t in times])
    evening = (hours >= 18) & (hours < 21)
    profile = np.where(evening, peak_kw, np.where((hours >= 7) & (hours < 23), 0.6, 0.3))
    power = profile[:, None] * rng.uniform(0.85, 1.15, (hours.size, n))
    tx_kw = np.stack([np.bincount(meter_tx, weights=row, minlength=transformers) for row in power])
    load_rate = tx_kw / 0.95 / np.asarray(rated_kva)
    feeder_drop = 0.07 * tx_kw[:, meter_tx] * position * feeder_length
    transformer_drop = 231.0 * 0.04 * load_rate[:, meter_tx]
    voltage = 231.0 - transformer_drop - feeder_drop + rng.normal(0, 0.7, power.shape)
    return Community(fleet, times, voltage, power)
