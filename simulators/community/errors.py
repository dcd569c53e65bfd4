"""Errors of the community model: one root so callers can catch the package as a whole."""

from __future__ import annotations


class CommunityError(Exception):
    """Root of every error the community model raises."""


class UnknownMeterError(CommunityError, KeyError):
    """A meter or transformer id that the scenario does not contain."""


class TimeWentBackwardsError(CommunityError, ValueError):
    """``advance_to`` was asked for a time before the model's current time.

    Energy registers integrate forward only; going back would need a new model.
    """
