"""Errors of the anomaly package, under one sub-root of ``HeadendError`` (tree: headend/errors.py).

``AnomalyConfigError`` and ``FleetLayoutError`` mean *we* (the site configuration or the code
building the fleet) got something wrong; ``ReadingRejectedError`` means a reading handed to the
detector cannot be interpreted, which points at the collector that produced it.
"""

from __future__ import annotations

from headend.errors import HeadendError


class AnomalyError(HeadendError):
    """Root of every error raised by ``headend.anomaly``."""


class AnomalyConfigError(AnomalyError, ValueError):
    """Two thresholds of the anomaly configuration contradict each other (a clear threshold
    stricter than its raise threshold); types and ranges are the schema's (``config.py``).

    ``key`` (dotted, inside the ``[anomaly]`` table) and ``problem`` let a caller that owns the
    file, such as the fleet config, name file and key its own way.
    """

    def __init__(self, message: str, *, key: str | None = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.problem = problem or message


class FleetLayoutError(AnomalyError, ValueError):
    """The fleet description (meters, transformers, buildings) is inconsistent."""


class ReadingRejectedError(AnomalyError, ValueError):
    """A reading for a known meter cannot be used (e.g. a unit we cannot convert)."""
