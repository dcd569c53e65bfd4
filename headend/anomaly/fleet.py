"""The fleet as arrays: a fixed layout and the latest values of every meter and transformer.

The layout (who hangs off which transformer and building) changes rarely and carries the
precomputed groupings; the snapshot is overwritten in place as readings arrive, so a sweep is
a handful of whole-array numpy operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from headend.anomaly.errors import FleetLayoutError
from headend.anomaly.grouping import BoolArray, FloatArray, Grouping, IntArray

PHASES = 3


class FleetLayout:
    """Meters, transformers and buildings, and which meter hangs where.

    Meters on the same transformer should be listed together: groupings then reduce without
    reordering (any order works, just slower). ``transformer_devices`` names further devices
    that measure a transformer itself (its LV-side meter, by transformer id): their readings
    count as the transformer's, never as one of its loads.
    """

    def __init__(
        self,
        *,
        meter_ids: Sequence[str],
        transformer_ids: Sequence[str],
        rated_kva: npt.ArrayLike,
        meter_transformer: npt.ArrayLike,
        building_ids: Sequence[str] = (),
        meter_building: npt.ArrayLike | None = None,
        three_phase: npt.ArrayLike | None = None,
        expects_export: npt.ArrayLike | None = None,
        transformer_devices: Mapping[str, str] | None = None,
    ) -> None:
        n = len(meter_ids)
        self.meter_ids: tuple[str, ...] = tuple(meter_ids)
        self.transformer_ids: tuple[str, ...] = tuple(transformer_ids)
        self.meter_index: Mapping[str, int] = _unique_index(self.meter_ids, "meter")
        self.transformer_index: Mapping[str, int] = _unique_index(
            self.transformer_ids, "transformer"
        )
        overlap = self.meter_index.keys() & self.transformer_index.keys()
        if overlap:
            raise FleetLayoutError(
                f"ids used for both a meter and a transformer: {sorted(overlap)[:5]}"
            )
        self.transformer_source_index: Mapping[str, int] = self._sources(transformer_devices or {})
        self.rated_kva: FloatArray = np.asarray(rated_kva, dtype=np.float64)
        if self.rated_kva.shape != (len(self.transformer_ids),):
            raise FleetLayoutError("rated_kva: needs one value per transformer")
        if not np.all(self.rated_kva > 0):
            bad = self.transformer_ids[int(np.argmin(self.rated_kva > 0))]
            raise FleetLayoutError(f"rated_kva: transformer {bad} needs a rating > 0 kVA")
        self.by_transformer = Grouping(
            _per_meter(meter_transformer, n, "meter_transformer"),
            len(self.transformer_ids),
            "meter_transformer",
        )
        self.building_ids: tuple[str, ...] = tuple(building_ids)
        self.by_building: Grouping | None = None
        if meter_building is not None:
            _unique_index(self.building_ids, "building")
            self.by_building = Grouping(
                _per_meter(meter_building, n, "meter_building"),
                len(self.building_ids),
                "meter_building",
            )
        elif self.building_ids:
            raise FleetLayoutError("building_ids given without meter_building")
        self.three_phase: BoolArray = _flags(three_phase, n, "three_phase")
        self.expects_export: BoolArray = _flags(expects_export, n, "expects_export")

    def _sources(self, devices: Mapping[str, str]) -> dict[str, int]:
        """Row of every device that reports a transformer's own values (its id, its LV meter)."""
        sources = dict(self.transformer_index)
        for device, transformer in devices.items():
            row = self.transformer_index.get(transformer)
            if row is None:
                raise FleetLayoutError(
                    f"transformer device {device!r}: unknown transformer {transformer!r}"
                )
            if device in self.meter_index or device in sources:
                raise FleetLayoutError(
                    f"transformer device {device!r} is also a meter or another transformer"
                )
            sources[device] = row
        return sources

    @property
    def n_meters(self) -> int:
        return len(self.meter_ids)

    @property
    def n_transformers(self) -> int:
        return len(self.transformer_ids)


class FleetSnapshot:
    """Latest value of every quantity the rules look at; NaN means 'not known now'.

    A failed read sets the quantity to NaN (so stale values never trigger rules) and records
    the failure reason code; energy registers keep the last two good reads so the rules can
    judge the step between them. Per-phase arrays are phase-major, shape (3, n): each phase is
    one contiguous row, which makes per-phase passes over a million meters several times faster.
    """

    def __init__(self, n_meters: int, n_transformers: int) -> None:
        self.voltage: FloatArray = np.full((PHASES, n_meters), np.nan)
        self.power_kw: FloatArray = np.full(n_meters, np.nan)
        self.energy_import_kwh: FloatArray = np.full(n_meters, np.nan)
        self.energy_import_prev_kwh: FloatArray = np.full(n_meters, np.nan)
        self.energy_import_time: FloatArray = np.full(n_meters, np.nan)
        self.energy_import_prev_time: FloatArray = np.full(n_meters, np.nan)
        self.energy_export_kwh: FloatArray = np.full(n_meters, np.nan)
        self.energy_export_prev_kwh: FloatArray = np.full(n_meters, np.nan)
        self.clock_drift_s: FloatArray = np.full(n_meters, np.nan)
        self.failure_code: npt.NDArray[np.int8] = np.zeros(n_meters, dtype=np.int8)
        """0 = last read answered; otherwise an index into ``FAILURE_CODES``."""
        self.transformer_power_kw: FloatArray = np.full(n_transformers, np.nan)
        self.transformer_current: FloatArray = np.full((PHASES, n_transformers), np.nan)
        self.transformer_voltage: FloatArray = np.full((PHASES, n_transformers), np.nan)

    @classmethod
    def for_layout(cls, layout: FleetLayout) -> FleetSnapshot:
        return cls(layout.n_meters, layout.n_transformers)


FAILURE_CODES: tuple[str, ...] = (
    "",
    "timeout",
    "checksum",
    "malformed",
    "error_response",
    "connection_lost",
    "wrong_address",
    "not_available",
    "unsupported",
    "other",
)
"""Reason strings by code; code 0 is 'answered', the last one catches unknown reasons."""
FAILURE_CODE: Mapping[str, int] = {reason: code for code, reason in enumerate(FAILURE_CODES)}
OTHER_FAILURE = FAILURE_CODE["other"]


def failure_code(reason: str) -> int:
    """Code of a failure reason; reasons we do not know share the 'other' code."""
    return FAILURE_CODE.get(reason, OTHER_FAILURE) if reason else OTHER_FAILURE


def _unique_index(ids: tuple[str, ...], what: str) -> dict[str, int]:
    index = {name: position for position, name in enumerate(ids)}
    if len(index) != len(ids):
        counts: dict[str, int] = {}
        for name in ids:
            counts[name] = counts.get(name, 0) + 1
        duplicate = next(name for name, count in counts.items() if count > 1)
        raise FleetLayoutError(f"{what} id {duplicate!r} appears more than once")
    return index


def _per_meter(values: npt.ArrayLike, n: int, name: str) -> IntArray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise FleetLayoutError(f"{name}: needs one entry per meter ({n}), got shape {array.shape}")
    return array


def _flags(values: npt.ArrayLike | None, n: int, name: str) -> BoolArray:
    if values is None:
        return np.zeros(n, dtype=np.bool_)
    array = np.asarray(values, dtype=np.bool_)
    if array.shape != (n,):
        raise FleetLayoutError(f"{name}: needs one flag per meter ({n}), got shape {array.shape}")
    return array
