"""The dashboard's fleet overview: live voltage and load per transformer and per building.

Computed on each request from what the engine already holds, so the overview can never disagree
with the meter pages or the alarms:

- a transformer's power and load rate are the anomaly detector's own (``transformer_loading``:
  the terminal's or LV-side meter's power when known, else the scaled sum of its load meters),
  so the dashboard shows the rate the overload rule judges;
- sums add only values in the canonical unit of their quantity (``headend.units``), converting
  any that are not, and skipping any that cannot be converted, never adding W to kW;
- a transformer's own LV-side meter is not one of its loads: it is listed apart, and the
  terminal's own telemetry (its power and its reported load rate) is shown as such.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from headend.api.facade import HeadendFacade, LoadingView
from headend.collection.sweeps import NO_BUILDING
from headend.config.fleet import LOAD_METER, MeterConfig, TransformerConfig
from headend.units import UnitError, factor_to_canonical
from storage.records import Reading

VOLTAGE_QUANTITIES = ("voltage_a", "voltage_b", "voltage_c")
LOAD_QUANTITY = "power_active_total"
LOAD_RATE_QUANTITY = "load_rate"
PERCENT = 100.0

Latest = Mapping[tuple[str, str], Reading]


def canonical_value(reading: Reading | None) -> float | None:
    """The reading's value in its quantity's canonical unit; None if absent or unconvertible."""
    if reading is None or reading.value is None:
        return None
    try:
        return reading.value * factor_to_canonical(reading.quantity, reading.unit)
    except UnitError:
        return None


def _voltages(meter: MeterConfig, latest: Latest) -> list[float]:
    values = []
    for quantity in VOLTAGE_QUANTITIES:
        value = canonical_value(latest.get((meter.id, quantity)))
        if value is not None:
            values.append(value)
    return values


def group_figures(
    name: str,
    meters: Iterable[MeterConfig],
    latest: Latest,
    offline: set[str],
) -> dict[str, object]:
    """Voltage and summed load of one group of load meters, in V and kW."""
    members = list(meters)
    voltages: list[float] = []
    load: float | None = None
    for meter in members:
        voltages.extend(_voltages(meter, latest))
        power = canonical_value(latest.get((meter.id, LOAD_QUANTITY)))
        if power is not None:
            load = (load or 0.0) + power
    return {
        "name": name,
        "meters": len(members),
        "online": sum(1 for m in members if m.id not in offline),
        "voltage_min": min(voltages) if voltages else None,
        "voltage_avg": sum(voltages) / len(voltages) if voltages else None,
        "load_kw": load,
    }


def terminal_figures(device: str, latest: Latest) -> dict[str, object] | None:
    """What the transformer's terminal itself last reported; None before its first message."""
    power = latest.get((device, LOAD_QUANTITY))
    rate = latest.get((device, LOAD_RATE_QUANTITY))
    if power is None and rate is None:
        return None
    rate_percent = canonical_value(rate)
    stamps = [r.timestamp for r in (power, rate) if r is not None]
    return {
        "device": device,
        "power_kw": canonical_value(power),
        "load_rate": None if rate_percent is None else rate_percent / PERCENT,
        "timestamp": max(stamps),
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def transformer_figures(
    headend: HeadendFacade,
    transformer: TransformerConfig,
    under: list[MeterConfig],
    view: LoadingView,
    offline: set[str],
) -> dict[str, object]:
    """One transformer: its load meters, its own meters (``under`` holds both), and the load
    the rules judge.

    ``meters_kw`` is the detector's sum too (meters read now; a silent meter's last value does
    not linger in it), so ``load_kw`` is ``meters_kw`` scaled up by the share that answered
    whenever the rules had to estimate from the meters.
    """
    loads = [m for m in under if m.kind == LOAD_METER]
    figures = group_figures(transformer.name, loads, headend.latest_values, offline)
    del figures["load_kw"]
    device = transformer.terminal or transformer.name
    loading = view.loading
    row = view.row_of[device]
    known = not math.isnan(loading.power_kw[row])
    answered = int(loading.meters_answered[row])
    figures.update(
        meters_kw=float(loading.meters_kw[row]) if answered else None,
        meters_answered=answered,
        load_kw=_finite(float(loading.power_kw[row])),
        rated_kva=transformer.rated_kva,
        load_rate=_finite(float(loading.rate[row])),
        load_source=("terminal" if loading.from_terminal[row] else "meters") if known else None,
        terminal=terminal_figures(device, headend.latest_values),
        lv_meters=[m.id for m in under if m.kind != LOAD_METER],
    )
    return figures


def fleet_overview(headend: HeadendFacade, now: datetime) -> dict[str, object]:
    """The limits drawn are the anomaly rules' own, so the screen and the alarms agree."""
    rules = headend.anomaly_rules
    band = rules.single_phase
    # Grouped in one pass: this runs every second for every live viewer.
    by_transformer: dict[str | None, list[MeterConfig]] = defaultdict(list)
    by_building: dict[str, list[MeterConfig]] = defaultdict(list)
    for meter in headend.meters():
        by_transformer[meter.transformer].append(meter)
        if meter.kind == LOAD_METER:
            by_building[meter.building or NO_BUILDING].append(meter)
    offline = headend.offline_meters()
    loading = headend.transformer_loading()
    transformers = [
        transformer_figures(headend, t, by_transformer.get(t.name, []), loading, offline)
        for t in headend.transformers.values()
    ]
    buildings = [
        group_figures(name, by_building[name], headend.latest_values, offline)
        for name in sorted(by_building)
    ]
    return {
        "site": headend.site,
        "now": now,
        "voltage_band": {"low": band.low_v, "high": band.high_v, "nominal": band.nominal_v},
        "load_limits": {"heavy": rules.heavy_load_rate, "overload": rules.overload_rate},
        "transformers": transformers,
        "buildings": buildings,
    }
