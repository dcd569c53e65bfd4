"""What the model hands out: per-meter values, per-transformer totals, and fleet arrays.

Field names are the project-wide quantity names (``voltage_a``, ``energy_active_import_total``
...), so a simulator can answer a DL/T 645 or Modbus read, and the anomaly rules can be tested,
without a translation table of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import numpy as np
import numpy.typing as npt

from simulators.scenario import MeterModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

QUANTITY_UNITS: dict[str, str] = {
    "voltage_a": "V",
    "voltage_b": "V",
    "voltage_c": "V",
    "current_a": "A",
    "current_b": "A",
    "current_c": "A",
    "power_active_total": "kW",
    "power_active_a": "kW",
    "power_active_b": "kW",
    "power_active_c": "kW",
    "power_reactive_total": "kvar",
    "power_factor_total": "",
    "frequency": "Hz",
    "energy_active_import_total": "kWh",
    "energy_active_export_total": "kWh",
}
"""Unit of every quantity a meter reports."""


@dataclass(frozen=True, slots=True)
class MeterValues:
    """What one meter would display at ``timestamp``.

    A single-phase meter reports in the A slots (that is what DL/T 645 single-phase meters do:
    voltage is 02010100 whatever phase they hang on); ``phase`` says where it really is, and the
    B/C fields are None.
    """

    meter_id: str
    address: str
    model: MeterModel
    phase: str | None
    timestamp: datetime
    voltage_a: float
    voltage_b: float | None
    voltage_c: float | None
    current_a: float
    current_b: float | None
    current_c: float | None
    power_active_total: float
    power_active_a: float
    power_active_b: float | None
    power_active_c: float | None
    power_reactive_total: float
    power_factor_total: float
    frequency: float
    energy_active_import_total: float
    energy_active_export_total: float

    def quantities(self) -> dict[str, float]:
        """Quantity name -> value for every quantity this meter has (None ones left out)."""
        result: dict[str, float] = {}
        for f in fields(self):
            if f.name in QUANTITY_UNITS:
                value = getattr(self, f.name)
                if value is not None:
                    result[f.name] = float(value)
        return result


@dataclass(frozen=True, slots=True)
class TransformerValues:
    """LV-side totals of one transformer, what a transformer terminal (TTU) measures."""

    transformer_id: str
    timestamp: datetime
    rated_kva: float
    voltage_a: float
    voltage_b: float
    voltage_c: float
    current_a: float
    current_b: float
    current_c: float
    power_active_total: float
    """kW"""
    power_reactive_total: float
    """kvar"""
    power_apparent_total: float
    """kVA"""
    power_factor_total: float
    frequency: float
    load_rate: float
    """Apparent power / rated kVA, in percent."""
    oil_temperature: float
    winding_temperature: float
    energy_active_import_total: float
    """kWh delivered to the LV side since the model started (sum of its meters)."""


@dataclass(frozen=True, slots=True)
class FleetArrays:
    """The whole community at one instant as arrays, for numpy anomaly rules.

    Meter arrays are indexed like ``meter_ids``; phase columns are physical phases A, B, C and
    hold NaN where a single-phase meter has no conductor. ``meter_transformer`` and
    ``meter_building`` index into ``transformer_ids`` and ``building_ids``.
    """

    timestamp: datetime
    meter_ids: tuple[str, ...]
    meter_phase: IntArray
    """0, 1, 2 for A, B, C; -1 for three-phase meters."""
    meter_transformer: IntArray
    meter_building: IntArray
    voltage: FloatArray
    current: FloatArray
    power_active: FloatArray
    power_reactive: FloatArray
    energy_import: FloatArray
    energy_export: FloatArray
    transformer_ids: tuple[str, ...]
    building_ids: tuple[str, ...]
    rated_kva: FloatArray
    transformer_voltage: FloatArray
    transformer_current: FloatArray
    transformer_power_active: FloatArray
    transformer_power_reactive: FloatArray
    load_rate: FloatArray
    """Percent of rated kVA."""
    oil_temperature: FloatArray
    winding_temperature: FloatArray
