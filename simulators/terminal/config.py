"""What the terminal publishes and where: topics and the point-name mapping, as data.

Terminal conventions vary by province (topic layout, point names, units), so none of it is
hard-coded in the publishing loop; a deployment swaps a ``TerminalConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import timedelta, timezone

from simulators.community.values import TransformerValues
from simulators.terminal.errors import TerminalConfigError

_NUMERIC_FIELDS = frozenset(
    f.name for f in fields(TransformerValues) if f.name not in ("transformer_id", "timestamp")
)


@dataclass(frozen=True, slots=True)
class Point:
    """One published point: ``val = round(values.<attribute> * scale, decimals)``."""

    name: str
    attribute: str
    scale: float = 1.0
    decimals: int = 2

    def __post_init__(self) -> None:
        if self.attribute not in _NUMERIC_FIELDS:
            raise TerminalConfigError(
                f"point {self.name!r}: TransformerValues has no numeric field {self.attribute!r}"
            )

    def value(self, values: TransformerValues) -> float:
        raw = float(getattr(values, self.attribute))
        return round(raw * self.scale, self.decimals)


DEFAULT_POINTS: tuple[Point, ...] = (
    Point("PhV_phsA", "voltage_a", decimals=1),
    Point("PhV_phsB", "voltage_b", decimals=1),
    Point("PhV_phsC", "voltage_c", decimals=1),
    Point("A_phsA", "current_a", decimals=2),
    Point("A_phsB", "current_b", decimals=2),
    Point("A_phsC", "current_c", decimals=2),
    Point("TotW", "power_active_total", scale=1000.0, decimals=0),
    Point("TotVar", "power_reactive_total", scale=1000.0, decimals=0),
    Point("TotVA", "power_apparent_total", scale=1000.0, decimals=0),
    Point("TotPF", "power_factor_total", decimals=3),
    Point("Hz", "frequency", decimals=2),
    Point("LoadRate", "load_rate", decimals=1),
    Point("OilTemp", "oil_temperature", decimals=1),
    Point("WindTemp", "winding_temperature", decimals=1),
    Point("SupWh", "energy_active_import_total", scale=1000.0, decimals=0),
)
"""Names seen in public terminal code; W/var/VA/Wh in base units, voltages phase-to-neutral."""


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    """Topics (``{transformer}`` is replaced by the transformer id) and the payload mapping."""

    telemetry_topic: str = "terminal/{transformer}/telemetry"
    request_topic: str = "terminal/{transformer}/request"
    response_topic: str = "terminal/{transformer}/response"
    dev_name: str = "{transformer}"
    points: tuple[Point, ...] = DEFAULT_POINTS
    interval_s: float = 60.0
    qos: int = 1
    utc_offset: timezone = field(default_factory=lambda: timezone(timedelta(hours=8)))
    """Timestamps in payloads are local time with offset, as terminals send them."""
    values_as_strings: bool = True
    """Many terminals send ``"val": "231.2"``; set False for JSON numbers."""
    reconnect_delay_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("telemetry_topic", "request_topic", "response_topic", "dev_name"):
            template = getattr(self, name)
            if "{transformer}" not in template:
                raise TerminalConfigError(f"terminal config {name}: needs '{{transformer}}'")
            if any(c in template for c in "+#"):
                raise TerminalConfigError(f"terminal config {name}: no MQTT wildcards allowed")
        names = [p.name for p in self.points]
        if len(set(names)) != len(names):
            raise TerminalConfigError("terminal config points: duplicate point names")
        if self.qos not in (0, 1, 2):
            raise TerminalConfigError(f"terminal config qos: must be 0, 1 or 2, not {self.qos}")
        if self.interval_s <= 0:
            raise TerminalConfigError("terminal config interval_s: must be > 0")

    def topic(self, template: str, transformer: str) -> str:
        return template.replace("{transformer}", transformer)
