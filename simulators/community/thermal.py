"""Transformer oil and winding temperature: two first-order lags driven by the load factor.

The shape follows the IEC 60076-7 exponential model (oil rise ~ ((K^2 R + 1)/(R + 1))^n,
winding gradient ~ K^2m): good enough to show a transformer heating through an evening
overload and cooling at night, which is what alarms and the demo need. Not a rating tool.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulators.scenario import TransformerSpec

FloatArray = npt.NDArray[np.float64]

_OIL_EXPONENT = 0.8
_WINDING_EXPONENT = 0.8


class ThermalModel:
    """Oil rise and winding gradient of every transformer, stepped with the simulated clock."""

    def __init__(self, transformers: tuple[TransformerSpec, ...], ambient_c: float) -> None:
        self._ambient = ambient_c
        self._oil_rated = np.array([t.oil_rise_rated_k for t in transformers])
        self._grad_rated = np.array([t.winding_gradient_rated_k for t in transformers])
        self._tau_oil = np.array([t.oil_time_constant_min for t in transformers])
        self._tau_winding = np.array([t.winding_time_constant_min for t in transformers])
        self._loss_ratio = np.array([t.loss_ratio for t in transformers])
        self.oil_rise = np.zeros(len(transformers))
        self.winding_gradient = np.zeros(len(transformers))

    def ultimate(self, load_factor: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Steady-state oil rise and winding gradient (K) at a constant load factor."""
        k2 = load_factor**2
        oil = self._oil_rated * ((k2 * self._loss_ratio + 1.0) / (self._loss_ratio + 1.0)) ** (
            _OIL_EXPONENT
        )
        gradient = self._grad_rated * k2**_WINDING_EXPONENT
        return oil, gradient

    def settle(self, load_factor: FloatArray) -> None:
        """Start in steady state for this load (the model's history before the scenario)."""
        self.oil_rise, self.winding_gradient = self.ultimate(load_factor)

    def step(self, load_factor: FloatArray, minutes: float) -> None:
        """Hold ``load_factor`` for ``minutes`` and move both temperatures towards it."""
        if minutes <= 0:
            return
        oil, gradient = self.ultimate(load_factor)
        a_oil = np.exp(-minutes / self._tau_oil)
        a_winding = np.exp(-minutes / self._tau_winding)
        self.oil_rise = oil + (self.oil_rise - oil) * a_oil
        self.winding_gradient = gradient + (self.winding_gradient - gradient) * a_winding

    @property
    def oil_c(self) -> FloatArray:
        result: FloatArray = self._ambient + self.oil_rise
        return result

    @property
    def winding_c(self) -> FloatArray:
        result: FloatArray = self._ambient + self.oil_rise + self.winding_gradient
        return result
