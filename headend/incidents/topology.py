"""Where each meter sits (transformer, building, channel, terminal), as the grouping needs it.

Alarms name a subject only; the fleet and the archive know the rest. The anomaly layout names a
transformer by its terminal's device name when it has one, so ``transformer_names`` maps those
back to the fleet's transformer names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


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

    @classmethod
    def of(
        cls,
        places: Iterable[MeterLocation],
        transformer_names: Mapping[str, str] | None = None,
        terminal_transformers: Mapping[str, str] | None = None,
    ) -> Topology:
        return cls(
            {p.meter: p for p in places},
            dict(transformer_names or {}),
            dict(terminal_transformers or {}),
        )

    def place(self, meter: str) -> MeterLocation:
        return self.places.get(meter) or MeterLocation(meter)

    def transformer(self, subject: str) -> str:
        return self.transformer_names.get(subject, subject)

    def meters_of(self, attribute: str, value: str) -> list[str]:
        """The meters whose ``attribute`` (transformer, building, channel, terminal) is
        ``value``."""
        return sorted(m for m, p in self.places.items() if getattr(p, attribute) == value)

    def counts(self, attribute: str) -> dict[str, int]:
        counted: dict[str, int] = defaultdict(int)
        for place in self.places.values():
            value = getattr(place, attribute)
            if value:
                counted[value] += 1
        return counted
