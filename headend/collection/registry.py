"""The live set of meters, changeable while the head-end runs.

A utility adds and replaces meters every day; restarting collection for a whole community to
add one flat is not acceptable. The registry validates a change against the configuration
(channel exists, plan exists, address free on that bus, quantities readable by the protocol)
and tells its listeners, so the channel schedulers start or stop reading that meter at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from headend.config.fleet import (
    METER_KINDS,
    TRANSFORMER_LV_METER,
    FleetConfig,
    MeterConfig,
    meter_tag_problem,
)
from headend.drivers.dlt645.reader import check_quantities
from headend.errors import HeadendError, UnknownMeter
from protocols.dlt645 import UnknownIdentifier
from protocols.modbus import builtin_map_names, builtin_register_map

Listener = Callable[[str, MeterConfig | None], None]
"""Called with (meter id, config) on add/replace, (meter id, None) on removal."""


class RegistryError(HeadendError, ValueError):
    """A meter change that would break the fleet; the message names the meter and the key.

    The fields say the same for code: ``meter`` is the meter's id, ``key`` the setting at fault
    (a ``MeterIn`` field, where the API points its 422), ``detail`` the message after the
    ``meter <id>: `` it starts with (the fleet file names the meter its own way). ``where``
    replaces that start for checks made on behalf of a request (``on-demand read of m1``).
    """

    def __init__(self, meter: str, key: str, detail: str, *, where: str | None = None) -> None:
        self.meter = meter
        self.key = key
        self.detail = detail
        super().__init__(f"{f'meter {meter}' if where is None else where}: {detail}")


class MeterRegistry:
    def __init__(self, config: FleetConfig) -> None:
        self._config = config
        self._meters: dict[str, MeterConfig] = {}
        self._listeners: list[Listener] = []
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
        self._meters[meter.id] = meter
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
        for listener in self._listeners:
            listener(meter_id, None)
        return meter

    def validate(self, meter: MeterConfig, *, replacing: str | None = None) -> None:
        """Raise ``RegistryError`` if ``meter`` cannot join the fleet (as it would be once the
        meter ``replacing`` names has left it)."""
        m = meter.id
        channel = self._config.channels.get(meter.channel)
        if channel is None:
            raise RegistryError(m, "channel", f"channel: unknown channel {meter.channel!r}")
        plan = self._config.plans.get(meter.plan)
        if plan is None:
            raise RegistryError(m, "plan", f"plan: unknown plan {meter.plan!r}")
        if meter.transformer is not None and meter.transformer not in self._config.transformers:
            raise RegistryError(
                m, "transformer", f"transformer: unknown transformer {meter.transformer!r}"
            )
        if meter.kind not in METER_KINDS:
            raise RegistryError(
                m, "kind", f"kind: unknown kind {meter.kind!r} (known: {METER_KINDS})"
            )
        if meter.kind == TRANSFORMER_LV_METER and meter.transformer is None:
            raise RegistryError(m, "kind", "kind: a transformer_lv meter needs its transformer")
        tag_problem = meter_tag_problem(meter)
        if tag_problem is not None:
            raise RegistryError(m, tag_problem[0], f"{tag_problem[0]}: {tag_problem[1]}")
        if meter.protocol.startswith("dlt645"):
            if meter.address is None:
                raise RegistryError(m, "address", "address: a DL/T 645 meter needs its address")
        elif meter.unit_id is None or meter.register_map is None:
            missing = "unit_id" if meter.unit_id is None else "register_map"
            raise RegistryError(m, missing, f"{missing}: a Modbus meter needs one")
        if meter.protocol.startswith("dlt645") != channel.protocol.startswith("dlt645"):
            raise RegistryError(
                m,
                "protocol",
                f"protocol {meter.protocol} cannot share channel {channel.name} "
                f"({channel.protocol})",
            )
        for other in self._meters.values():
            if other.id in (meter.id, replacing) or other.channel != meter.channel:
                continue
            if (other.address, other.unit_id) == (meter.address, meter.unit_id):
                raise RegistryError(
                    m,
                    "address",
                    f"address: {meter.address or meter.unit_id} is already used by meter "
                    f"{other.id} on channel {meter.channel}",
                )
        quantities = [q for spec in plan.reads for q in spec.quantities]
        problem = self._quantity_problem(meter, quantities)
        if problem is not None:  # the plan asks for them: its key is the one at fault
            raise RegistryError(m, "plan", f"plan {plan.name}: {problem[1]}")

    def validate_quantities(
        self, meter: MeterConfig, quantities: Sequence[str], where: str
    ) -> None:
        """Raise ``RegistryError`` naming the first quantity this meter cannot be asked for."""
        problem = self._quantity_problem(meter, quantities)
        if problem is not None:
            raise RegistryError(meter.id, problem[0], problem[1], where=where)

    @staticmethod
    def _quantity_problem(meter: MeterConfig, quantities: Sequence[str]) -> tuple[str, str] | None:
        """The key at fault and why, for the first quantity this meter cannot be asked for."""
        if meter.protocol.startswith("dlt645"):
            try:
                check_quantities(quantities, meter.protocol)
            except UnknownIdentifier as exc:
                return "quantities", str(exc)
            return None
        if meter.register_map not in builtin_map_names():
            return "register_map", (
                f"register_map: unknown map {meter.register_map!r} "
                f"(known: {', '.join(sorted(builtin_map_names()))})"
            )
        register_map = builtin_register_map(meter.register_map)
        unknown = [q for q in quantities if q not in register_map.quantities]
        if unknown:
            return "quantities", f"map {meter.register_map} has no {unknown[0]!r}"
        return None
