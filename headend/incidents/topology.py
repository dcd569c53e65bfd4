"""Where each meter sits (transformer, building, channel, terminal), as the grouping needs it.

Alarms name a subject only; the fleet and the archive know the rest. The anomaly layout names a
transformer by its terminal's device name when it has one, so ``transformer_names`` maps those
back to the fleet's transformer names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ATTRIBUTES = ("transformer", "building", "channel", "terminal")


@dataclass(frozen=True, slots=True)
class MeterLocation:
    meter: str
    transformer: str | None = None
    building: str | None = None
    channel: str | None = None
    terminal: str | None = None


@dataclass(frozen=True, slots=True)
class Topology:
    places: Mapping[str, MeterLocation]
    transformer_names: Mapping[str, str] = field(default_factory=dict)
    """An alarm subject (a transformer's name or its terminal device) -> the transformer name."""
    terminal_transformers: Mapping[str, str] = field(default_factory=dict)
    """Concentrator name -> its transformer."""
    groups: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    """attribute (transformer, building, channel, terminal) -> value -> its meters, sorted:
    built once, so a pass over many alarms never scans the fleet."""

    @classmethod
    def of(
        cls,
        places: Iterable[MeterLocation],
        transformer_names: Mapping[str, str] | None = None,
        terminal_transformers: Mapping[str, str] | None = None,
    ) -> Topology:
        by_meter = {p.meter: p for p in places}
        groups: dict[str, dict[str, list[str]]] = {a: defaultdict(list) for a in ATTRIBUTES}
        for meter in sorted(by_meter):
            for attribute in ATTRIBUTES:
                value = getattr(by_meter[meter], attribute)
                if value:
                    groups[attribute][value].append(meter)
        return cls(
            by_meter,
            dict(transformer_names or {}),
            dict(terminal_transformers or {}),
            {a: {v: tuple(m) for v, m in g.items()} for a, g in groups.items()},
        )

    def place(self, meter: str) -> MeterLocation:
        return self.places.get(meter) or MeterLocation(meter)

    def transformer(self, subject: str) -> str:
        return self.transformer_names.get(subject, subject)

    def meters_of(self, attribute: str, value: str) -> tuple[str, ...]:
        """The meters whose ``attribute`` (transformer, building, channel, terminal) is
        ``value``, sorted."""
        return self.groups.get(attribute, {}).get(value, ())

    def count(self, attribute: str, value: str) -> int:
        return len(self.meters_of(attribute, value))
