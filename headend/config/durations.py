"""Durations as people write them (``"500ms"``, ``"15m"``, ``"1d"``), for the fleet file and
the command line alike; kept free of pydantic so that ``headend read`` starts fast."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | float) -> float:
    """Seconds from ``"15m"``, ``"500ms"``, ``"1h"`` or a bare number of seconds."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration, got {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValueError(f"expected a finite duration, got {text!r}")
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text!r}")
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as '500ms', '30s', '15m', '1h', got {text!r}")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
