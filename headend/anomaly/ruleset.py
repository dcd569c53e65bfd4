"""All rules of one site, wired to one fleet layout: snapshot in, one condition per spec out.

Everything that depends only on the layout and the configuration (limits per meter, maximum
power per meter, failure-reason classes, rated currents) is computed once here, so a sweep is
only the work that depends on the latest values.
"""

from __future__ import annotations

import numpy as np

from headend.anomaly.conditions import Condition, ConditionSpec
from headend.anomaly.config import AnomalyConfig
from headend.anomaly.events import AnomalyKind, SubjectKind
from headend.anomaly.fleet import FAILURE_CODES, FleetLayout, FleetSnapshot
from headend.anomaly.grouping import BoolArray, FloatArray, Grouping
from headend.anomaly.rules import energy, loading, outage, unbalance, voltage
from storage.records import Severity

K = AnomalyKind
S = SubjectKind


def _spec(
    kind: AnomalyKind,
    subject: SubjectKind,
    severity: Severity,
    unit: str,
    higher_is_worse: bool,
    update_step: float,
    description: str,
    value_labels: tuple[str, ...] = (),
) -> ConditionSpec:
    return ConditionSpec(
        kind, subject, severity, unit, higher_is_worse, update_step, description, value_labels
    )


NEVER = float("inf")
Verdict = tuple[BoolArray, BoolArray, FloatArray]
"""Raise mask, hold mask and value of one rule over its subjects."""

METER_SPECS = (
    _spec(K.VOLTAGE_LOW, S.METER, Severity.WARNING, "V", False, 5.0, "voltage below limit"),
    _spec(K.VOLTAGE_HIGH, S.METER, Severity.WARNING, "V", True, 5.0, "voltage above limit"),
    _spec(
        K.VOLTAGE_LOW_SUSTAINED,
        S.METER,
        Severity.CRITICAL,
        "V",
        False,
        5.0,
        "sustained low voltage",
    ),
    _spec(K.OUTAGE, S.METER, Severity.CRITICAL, "V", False, NEVER, "meter outage"),
    _spec(
        K.COMMUNICATION_FAULT,
        S.METER,
        Severity.WARNING,
        "",
        True,
        NEVER,
        "communication fault",
        FAILURE_CODES,
    ),
    _spec(
        K.ENERGY_BACKWARDS,
        S.METER,
        Severity.CRITICAL,
        "kWh",
        False,
        NEVER,
        "energy register went backwards",
    ),
    _spec(K.ENERGY_JUMP, S.METER, Severity.CRITICAL, "kW", True, NEVER, "impossible energy jump"),
    _spec(
        K.REVERSE_ENERGY, S.METER, Severity.WARNING, "kWh", True, NEVER, "unexpected reverse energy"
    ),
    _spec(K.CLOCK_DRIFT, S.METER, Severity.WARNING, "s", True, NEVER, "meter clock drift"),
)
TRANSFORMER_SPECS = (
    _spec(
        K.VOLTAGE_LOW_SUSTAINED,
        S.TRANSFORMER,
        Severity.CRITICAL,
        "V",
        False,
        5.0,
        "sustained low voltage on many meters",
    ),
    _spec(K.HEAVY_LOAD, S.TRANSFORMER, Severity.WARNING, "ratio", True, 0.1, "heavy load"),
    _spec(K.OVERLOAD, S.TRANSFORMER, Severity.CRITICAL, "ratio", True, 0.1, "overload"),
    _spec(
        K.CURRENT_UNBALANCE,
        S.TRANSFORMER,
        Severity.WARNING,
        "ratio",
        True,
        0.1,
        "three-phase current unbalance",
    ),
    _spec(
        K.VOLTAGE_UNBALANCE,
        S.TRANSFORMER,
        Severity.WARNING,
        "ratio",
        True,
        0.01,
        "three-phase voltage unbalance",
    ),
    _spec(K.OUTAGE, S.TRANSFORMER, Severity.CRITICAL, "ratio", True, 0.2, "transformer outage"),
    _spec(
        K.COMMUNICATION_FAULT,
        S.TRANSFORMER,
        Severity.CRITICAL,
        "ratio",
        True,
        0.2,
        "channel down for many meters",
    ),
)
BUILDING_SPECS = (
    _spec(
        K.VOLTAGE_LOW_SUSTAINED,
        S.BUILDING,
        Severity.CRITICAL,
        "V",
        False,
        5.0,
        "sustained low voltage on many meters",
    ),
)


class RuleSet:
    """The rules of one site applied to one fleet layout."""

    def __init__(self, layout: FleetLayout, config: AnomalyConfig) -> None:
        self.layout = layout
        self.config = config
        low, high = voltage.voltage_limits(layout.three_phase, config)
        self._low_v = low
        self._low_clear_v = low + config.voltage_hysteresis_v
        self._high_v = high
        self._high_clear_v = high - config.voltage_hysteresis_v
        self._max_kw = np.where(
            layout.three_phase, config.three_phase_max_kw, config.single_phase_max_kw
        ).astype(np.float64)
        self._silent_codes = outage.reason_codes(config.silent_reasons)
        self._link_codes = outage.reason_codes(config.link_reasons)
        self._rated_current = unbalance.rated_current_a(layout.rated_kva)
        self.specs: tuple[ConditionSpec, ...] = (
            METER_SPECS
            + TRANSFORMER_SPECS
            + (BUILDING_SPECS if layout.by_building is not None else ())
        )

    def evaluate(self, snap: FleetSnapshot) -> list[Condition]:
        """One condition per spec, in ``self.specs`` order."""
        cfg = self.config
        layout = self.layout
        by_tx = layout.by_transformer
        lowest, highest = voltage.phase_extremes(snap.voltage)
        dead = voltage.no_supply(highest, cfg.zero_voltage_v)
        supplied = ~dead
        low = voltage.below(lowest, self._low_v, supplied)
        low_held = voltage.below(lowest, self._low_clear_v, supplied)
        high = voltage.above(highest, self._high_v)
        high_held = voltage.above(highest, self._high_clear_v)

        # Outage first: meter events under a transformer that is out are suppressed.
        failed = outage.classify(snap.failure_code, self._silent_codes, self._link_codes)
        down = failed.silent | dead
        link = failed.link
        garbled = failed.garbled
        down_share, down_enough = outage.group_share(down, by_tx, cfg.outage_min_meters)
        link_share, link_enough = outage.group_share(link, by_tx, cfg.outage_min_meters)
        tx_out = (down_share >= cfg.outage_fraction) & down_enough
        tx_out_held = (down_share >= cfg.outage_clear_fraction) & down_enough
        tx_link = (link_share >= cfg.outage_fraction) & link_enough
        tx_link_held = (link_share >= cfg.outage_clear_fraction) & link_enough
        covered = by_tx.spread(tx_out_held | tx_link_held)
        meter_down = down & ~covered
        meter_comm = (garbled | link) & ~covered

        import_step = energy.register_step(snap.energy_import_kwh, snap.energy_import_prev_kwh)
        interval = snap.energy_import_time - snap.energy_import_prev_time
        export_step = energy.register_step(snap.energy_export_kwh, snap.energy_export_prev_kwh)
        backwards = energy.went_backwards(import_step, cfg.energy_tolerance_kwh)
        jump = energy.jumped(import_step, interval, self._max_kw, cfg.energy_tolerance_kwh)
        reverse = energy.unexpected_export(
            export_step, layout.expects_export, cfg.energy_tolerance_kwh
        )
        drift = np.abs(snap.clock_drift_s)
        clock = energy.clock_off(drift, cfg.clock_drift_limit_s)

        verdicts: dict[tuple[AnomalyKind, SubjectKind], Verdict] = {
            (K.VOLTAGE_LOW, S.METER): (low, low_held, lowest),
            (K.VOLTAGE_HIGH, S.METER): (high, high_held, highest),
            (K.VOLTAGE_LOW_SUSTAINED, S.METER): (low, low_held, lowest),
            (K.OUTAGE, S.METER): (meter_down, meter_down, np.fmax(highest, 0.0)),
            (K.COMMUNICATION_FAULT, S.METER): (
                meter_comm,
                meter_comm,
                snap.failure_code.astype(np.float64),
            ),
            (K.ENERGY_BACKWARDS, S.METER): (backwards, backwards, import_step),
            (K.ENERGY_JUMP, S.METER): (jump, jump, energy.implied_power_kw(import_step, interval)),
            (K.REVERSE_ENERGY, S.METER): (reverse, reverse, export_step),
            (K.CLOCK_DRIFT, S.METER): (clock, clock, drift),
            (K.OUTAGE, S.TRANSFORMER): (tx_out, tx_out_held, down_share),
            (K.COMMUNICATION_FAULT, S.TRANSFORMER): (tx_link, tx_link_held, link_share),
        }

        supplied_lowest = np.where(supplied, lowest, np.nan)
        verdicts[K.VOLTAGE_LOW_SUSTAINED, S.TRANSFORMER] = self._group_low(
            by_tx, low, low_held, supplied_lowest
        )
        if layout.by_building is not None:
            verdicts[K.VOLTAGE_LOW_SUSTAINED, S.BUILDING] = self._group_low(
                layout.by_building, low, low_held, supplied_lowest
            )

        rate = self.transformer_loading(snap).rate
        heavy, overload = cfg.heavy_load_rate, cfg.overload_rate
        verdicts[K.HEAVY_LOAD, S.TRANSFORMER] = (
            rate > heavy,
            rate > heavy - cfg.load_hysteresis,
            rate,
        )
        verdicts[K.OVERLOAD, S.TRANSFORMER] = (
            rate > overload,
            rate > overload - cfg.load_hysteresis,
            rate,
        )

        currents = snap.transformer_current
        loaded = np.abs(currents).max(axis=0) >= cfg.unbalance_min_load_rate * self._rated_current
        current_ub = unbalance.current_unbalance(currents)
        limit = cfg.current_unbalance_limit
        verdicts[K.CURRENT_UNBALANCE, S.TRANSFORMER] = (
            loaded & (current_ub > limit),
            loaded & (current_ub > limit - cfg.current_unbalance_hysteresis),
            current_ub,
        )
        voltage_ub = unbalance.voltage_unbalance(snap.transformer_voltage)
        limit = cfg.voltage_unbalance_limit
        verdicts[K.VOLTAGE_UNBALANCE, S.TRANSFORMER] = (
            voltage_ub > limit,
            voltage_ub > limit - cfg.voltage_unbalance_hysteresis,
            voltage_ub,
        )
        return [Condition(spec, *verdicts[spec.kind, spec.subject]) for spec in self.specs]

    def transformer_loading(self, snap: FleetSnapshot) -> loading.TransformerLoading:
        """The load of every transformer: what the load rules judge and the API shows."""
        cfg = self.config
        return loading.transformer_loading(
            snap.transformer_power_kw,
            snap.power_kw,
            self.layout.by_transformer,
            self.layout.rated_kva,
            min_coverage=cfg.min_meter_coverage,
            power_factor=cfg.assumed_power_factor,
        )

    def _group_low(
        self,
        grouping: Grouping,
        low: BoolArray,
        low_held: BoolArray,
        lowest: FloatArray,
    ) -> Verdict:
        """A group is low when enough of its meters are; its value is its lowest supplied meter."""
        cfg = self.config
        low_share = grouping.fraction(low)
        held_share = grouping.fraction(low_held)
        raised = (low_share >= cfg.group_low_fraction) & (low_share > 0)
        held = (held_share >= cfg.group_low_clear_fraction) & (held_share > 0)
        return raised, held, grouping.min(lowest)
