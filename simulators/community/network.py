"""Voltages and currents of a radial LV network with constant-power loads.

The drop along a cable is the usual scalar approximation dV = I (R cos phi + X sin phi), per
phase conductor, with the neutral assumed to carry no current (loads are dealt evenly over the
phases). On a radial feeder two meters share the cable up to the nearer one, so the drop at meter
m is sum_k I_k z_k min(d_k, d_m): one matrix product instead of a tree walk. Constant-power loads
draw more current as the voltage falls, so the solve iterates a few times to a fixed point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.scenario import PHASES, Scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_ITERATIONS = 4


@dataclass(frozen=True, slots=True)
class NetworkState:
    """One solved instant. Voltages are phase-to-neutral (V), currents in A, NaN where a
    single-phase meter has no conductor."""

    meter_voltage: FloatArray
    meter_current: FloatArray
    busbar_voltage: FloatArray
    transformer_current: FloatArray


class Network:
    """The fixed part of the network (who is where, which impedances), solved per instant."""

    def __init__(self, scenario: Scenario) -> None:
        meters = scenario.meters
        tx_index = {t.id: i for i, t in enumerate(scenario.transformers)}
        feeders = {f.id: f for f in scenario.feeders}
        self.meter_transformer: IntArray = np.array(
            [tx_index[m.transformer] for m in meters], dtype=np.int64
        )
        n, t = len(meters), len(scenario.transformers)
        self.membership = np.zeros((n, t))
        self.membership[np.arange(n), self.meter_transformer] = 1.0
        # Share of a meter's power on each phase: 1 on its phase, or 1/3 each if three-phase.
        self.phase_share = np.zeros((n, 3))
        for i, meter in enumerate(meters):
            if meter.phase is None:
                self.phase_share[i, :] = 1.0 / 3.0
            else:
                self.phase_share[i, PHASES.index(meter.phase)] = 1.0
        self.connected = self.phase_share > 0
        self.cable_r = np.array([feeders[m.feeder].r_ohm_per_km for m in meters])
        self.cable_x = np.array([feeders[m.feeder].x_ohm_per_km for m in meters])
        distance_km = np.array([m.distance_m for m in meters]) / 1000.0
        feeder_ids = np.array([m.feeder for m in meters])
        same_feeder = feeder_ids[:, None] == feeder_ids[None, :]
        self.shared_km = np.where(
            same_feeder, np.minimum(distance_km[:, None], distance_km[None, :]), 0.0
        )
        # Transformer series impedance referred to the LV side (per phase, star equivalent).
        rated = np.array([x.rated_kva for x in scenario.transformers]) * 1000.0
        z = np.array([x.impedance_percent for x in scenario.transformers]) / 100.0
        z_ohm = z * 400.0**2 / rated
        ratio = np.array([x.x_over_r for x in scenario.transformers])
        self.tx_r = z_ohm / np.sqrt(1.0 + ratio**2)
        self.tx_x = self.tx_r * ratio
        self.busbar_no_load = np.array([x.busbar_voltage_v for x in scenario.transformers])

    def solve(
        self,
        power_kw: FloatArray,
        power_factor: FloatArray,
        voltage_factor: FloatArray,
        busbar_factor: FloatArray,
        transformer_alive: npt.NDArray[np.bool_],
    ) -> NetworkState:
        """Voltages and currents for the given demand.

        ``voltage_factor`` (per meter, transformer faults included) and ``busbar_factor`` (per
        transformer) scale the solved voltages (sag/swell faults);
        a transformer that is not alive puts zero volts on everything behind it.
        """
        cos = power_factor[:, None]
        sin = np.sqrt(1.0 - power_factor**2)[:, None]
        phase_watts = np.abs(power_kw)[:, None] * 1000.0 * self.phase_share
        cable_z = self.cable_r[:, None] * cos + self.cable_x[:, None] * sin
        tx_z = self.tx_r[self.meter_transformer][:, None] * cos
        tx_z = tx_z + self.tx_x[self.meter_transformer][:, None] * sin
        nominal = self.busbar_no_load[self.meter_transformer][:, None]
        voltage = np.broadcast_to(nominal, phase_watts.shape).copy()
        busbar = np.repeat(self.busbar_no_load[:, None], 3, axis=1)
        current = np.zeros_like(phase_watts)
        for _ in range(_ITERATIONS):
            current = phase_watts / (np.maximum(voltage, 1.0) * cos)
            busbar = self.busbar_no_load[:, None] - self.membership.T @ (current * tx_z)
            voltage = busbar[self.meter_transformer] - self.shared_km @ (current * cable_z)
        voltage = voltage * voltage_factor[:, None]
        busbar = busbar * (busbar_factor * transformer_alive)[:, None]
        alive = transformer_alive[self.meter_transformer][:, None]
        voltage = np.where(alive, voltage, 0.0)
        current = np.where(voltage > 0.0, phase_watts / (np.maximum(voltage, 1.0) * cos), 0.0)
        transformer_current = self.membership.T @ current
        voltage = np.where(self.connected, voltage, np.nan)
        current = np.where(self.connected, current, np.nan)
        return NetworkState(
            meter_voltage=voltage,
            meter_current=current,
            busbar_voltage=busbar,
            transformer_current=transformer_current,
        )
