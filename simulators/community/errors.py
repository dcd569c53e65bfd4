"""Errors of the community model: one sub-root so callers can catch the model as a whole
(the package's tree is in ``simulators/errors.py``)."""

from __future__ import annotations

from simulators.errors import SimulatorError


class CommunityError(SimulatorError):
    """Root of every error the community model raises."""


class UnknownMeterError(CommunityError, KeyError):
    """A meter or transformer id that the scenario does not contain."""


class TimeWentBackwardsError(CommunityError, ValueError):
    """``advance_to`` was asked for a time before the model's current time.

    Energy registers integrate forward only; going back would need a new model.
    """
