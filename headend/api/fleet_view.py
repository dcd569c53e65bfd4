"""The dashboard's fleet overview: live voltage and load per transformer and per building.

Computed from the engine's latest readings on each request (a fleet of a few thousand meters
is a few thousand dict lookups), so the overview can never disagree with the meter pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from headend.engine import NO_BUILDING, Engine
from headend.fleet_config import MeterConfig
from headend.readings import Reading

VOLTAGE_QUANTITIES = ("voltage_a", "voltage_b", "voltage_c")
LOAD_QUANTITY = "power_active_total"


def _voltages(meter: MeterConfig, latest: Mapping[tuple[str, str], Reading]) -> list[float]:
    values = []
    for quantity in VOLTAGE_QUANTITIES:
        reading = latest.get((meter.id, quantity))
        if reading is not None and reading.value is not None:
            values.append(reading.value)
    return values


def group_figures(
    name: str,
    meters: Iterable[MeterConfig],
    latest: Mapping[tuple[str, str], Reading],
    offline: set[str],
    rated_kva: float | None = None,
    power_factor: float = 1.0,
) -> dict[str, object]:
    """Figures of one group; the load rate uses the same kW -> kVA conversion as the rules."""
    members = list(meters)
    voltages: list[float] = []
    load: float | None = None
    for meter in members:
        voltages.extend(_voltages(meter, latest))
        power = latest.get((meter.id, LOAD_QUANTITY))
        if power is not None and power.value is not None:
            load = (load or 0.0) + power.value
    return {
        "name": name,
        "meters": len(members),
        "online": sum(1 for m in members if m.id not in offline),
        "voltage_min": min(voltages) if voltages else None,
        "voltage_avg": sum(voltages) / len(voltages) if voltages else None,
        "load_kw": load,
        "rated_kva": rated_kva,
        "load_rate": abs(load) / power_factor / rated_kva
        if load is not None and rated_kva
        else None,
    }


def fleet_overview(engine: Engine, now: datetime) -> dict[str, object]:
    """The limits drawn are the anomaly rules' own, so the screen and the alarms agree."""
    rules = engine.detector.config
    band = rules.single_phase
    meters = list(engine.registry)
    offline = set(engine.health.offline_meters())
    transformers = [
        group_figures(
            t.name,
            (m for m in meters if m.transformer == t.name),
            engine.latest,
            offline,
            t.rated_kva,
            rules.assumed_power_factor,
        )
        for t in engine.config.transformers.values()
    ]
    building_names = sorted({m.building or NO_BUILDING for m in meters})
    buildings = [
        group_figures(
            b, (m for m in meters if (m.building or NO_BUILDING) == b), engine.latest, offline
        )
        for b in building_names
    ]
    return {
        "site": engine.config.site,
        "now": now,
        "voltage_band": {"low": band.low_v, "high": band.high_v, "nominal": band.nominal_v},
        "load_limits": {"heavy": rules.heavy_load_rate, "overload": rules.overload_rate},
        "transformers": transformers,
        "buildings": buildings,
    }
