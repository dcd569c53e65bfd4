"""The live set of meters, changeable while the head-end runs.

A utility adds and replaces meters every day; restarting collection for a whole community to
add one flat is not acceptable. The registry validates a change against the configuration
(``headend.config.meters``: channel exists, plan exists, address free on that bus, quantities
readable by the protocol) and tells its listeners, so the channel schedulers start or stop
reading that meter at once.

It keeps, per channel, which meter holds each address (``_on_bus``), so "address free on that
bus" is one lookup: checking each of 100,000 meters against every other made start-up quadratic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from headend.config.fleet import FleetConfig, MeterConfig
from headend.config.meters import (
    BusAddress,
    bus_address,
    check_meter,
    check_quantities,
)
from headend.errors import UnknownMeter
from headend.gc_tuning import paused_gc

__all__ = ["Listener", "MeterRegistry"]

Listener = Callable[[str, MeterConfig | None], None]
"""Called with (meter id, config) on add/replace, (meter id, None) on removal."""


class MeterRegistry:
    def __init__(self, config: FleetConfig) -> None:
        self._config = config
        self._meters: dict[str, MeterConfig] = {}
        self._on_bus: dict[str, dict[BusAddress, str]] = {}
        """Channel -> bus address -> the id of the meter there; kept with ``_meters``."""
        self._listeners: list[Listener] = []
        with paused_gc():  # the whole fleet at once: see headend.gc_tuning
            for meter in config.meters.values():
                self.add(meter)

    def __iter__(self) -> Iterator[MeterConfig]:
        return iter(list(self._meters.values()))

    def __len__(self) -> int:
        return len(self._meters)

    def __contains__(self, meter_id: object) -> bool:
        return meter_id in self._meters

    def get(self, meter_id: str) -> MeterConfig:
        try:
            return self._meters[meter_id]
        except KeyError:
            raise UnknownMeter(meter_id) from None

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def by_id(self) -> Mapping[str, MeterConfig]:
        return dict(self._meters)

    def add(self, meter: MeterConfig) -> None:
        """Add or replace a meter; listeners restart its schedule."""
        self.validate(meter)
        old = self._meters.get(meter.id)
        if old is not None:
            self._leave_bus(old)
        self._meters[meter.id] = meter
        self._on_bus.setdefault(meter.channel, {})[bus_address(meter)] = meter.id
        for listener in self._listeners:
            listener(meter.id, meter)

    def replace(self, old_id: str, meter: MeterConfig) -> MeterConfig:
        """A new meter (its own id) takes the place of ``old_id``, in one validated step."""
        self.validate(meter, replacing=old_id)
        old = self.remove(old_id)
        self.add(meter)
        return old

    def remove(self, meter_id: str) -> MeterConfig:
        meter = self.get(meter_id)
        del self._meters[meter_id]
        self._leave_bus(meter)
        for listener in self._listeners:
            listener(meter_id, None)
        return meter

    def validate(self, meter: MeterConfig, *, replacing: str | None = None) -> None:
        """Raise ``RegistryError`` if ``meter`` cannot join the fleet (as it would be once the
        meter ``replacing`` names has left it)."""
        on_bus = self._on_bus.get(meter.channel, {})
        check_meter(self._config, meter, replacing=replacing, on_bus=on_bus)

    def _leave_bus(self, meter: MeterConfig) -> None:
        on_bus = self._on_bus.get(meter.channel, {})
        if on_bus.get(bus_address(meter)) == meter.id:
            del on_bus[bus_address(meter)]

    def validate_quantities(
        self, meter: MeterConfig, quantities: Sequence[str], where: str
    ) -> None:
        """Raise ``RegistryError`` naming the first quantity this meter cannot be asked for."""
        check_quantities(meter, quantities, where)
