"""One meter against the fleet: what every meter needs, and what its protocol's driver needs.

The same checks run when a fleet file loads (``check_meters``, errors naming the file, the
``[[meters]]`` table and the meter) and when the API or the fleet overlay changes a meter at
run time (``headend.collection.registry``): channel, plan and transformer exist, the kind fits,
tags can be stored, the driver has what it addresses the meter by, the meter's protocol can
share its channel, the address is free on that bus, and the plan asks only for quantities the
meter can be asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from headend.config.errors import ConfigError
from headend.config.fleet import (
    METER_KINDS,
    TRANSFORMER_LV_METER,
    FleetConfig,
    MeterConfig,
    meter_tag_problem,
)
from headend.drivers.registry import UnknownProtocol, driver_for
from headend.errors import HeadendError

BusAddress = tuple[str | None, int | None]
"""How a meter is told apart from the others on its bus: its address and its unit id."""


def bus_address(meter: MeterConfig) -> BusAddress:
    return (meter.address, meter.unit_id)


class RegistryError(HeadendError, ValueError):
    """A meter (or a change of one) that would break the fleet.

    ``str()`` reads ``"<where>: <problem>"`` (``meter m1: address: 000000000001 is already used
    by meter m0 on channel bus-1``); ``where`` names the meter or the request, ``problem`` is the
    rest as an operator reads it, and ``key`` is the meter field at fault (``address``), None when
    it is not one field, so callers place the error without parsing its text.
    """

    def __init__(self, where: str, problem: str, *, key: str | None = None) -> None:
        self.where = where
        self.problem = problem
        self.key = key
        super().__init__(f"{where}: {problem}")


def check_meter(
    config: FleetConfig,
    meter: MeterConfig,
    others: Iterable[MeterConfig] = (),
    *,
    replacing: str | None = None,
    on_bus: Mapping[BusAddress, str] | None = None,
) -> None:
    """Raise ``RegistryError`` if ``meter`` cannot join a fleet of ``config`` holding ``others``
    (as it would be once the meter ``replacing`` names has left it).

    ``on_bus`` (the ids of the meters already on ``meter``'s channel, by ``bus_address``) stands
    in for ``others`` where a whole fleet is checked meter by meter: the registry keeps that
    index, so adding n meters costs O(n), not the O(n²) of scanning ``others`` for each."""
    where = f"meter {meter.id}"

    def reject(key: str, problem: str) -> RegistryError:
        return RegistryError(where, problem, key=key)

    channel = config.channels.get(meter.channel)
    if channel is None:
        raise reject("channel", f"channel: unknown channel {meter.channel!r}")
    plan = config.plans.get(meter.plan)
    if plan is None:
        raise reject("plan", f"plan: unknown plan {meter.plan!r}")
    if meter.transformer is not None and meter.transformer not in config.transformers:
        raise reject("transformer", f"transformer: unknown transformer {meter.transformer!r}")
    if meter.kind not in METER_KINDS:
        raise reject("kind", f"kind: unknown kind {meter.kind!r} (known: {METER_KINDS})")
    if meter.kind == TRANSFORMER_LV_METER and meter.transformer is None:
        raise reject("kind", "kind: a transformer_lv meter needs its transformer")
    tag_problem = meter_tag_problem(meter)
    if tag_problem is not None:
        raise reject(tag_problem[0], f"{tag_problem[0]}: {tag_problem[1]}")
    try:
        driver = driver_for(meter.protocol)
        channel_driver = driver_for(channel.protocol)
    except UnknownProtocol as exc:
        raise reject("protocol", f"protocol: {exc}") from None
    problem = driver.meter_problem(meter)
    if problem is not None:
        raise reject(problem.key, problem.message)
    if driver.family != channel_driver.family:
        raise reject(
            "protocol",
            f"protocol {meter.protocol} cannot share channel {channel.name} ({channel.protocol})",
        )
    if on_bus is not None:
        holder = on_bus.get(bus_address(meter))
        holders = [] if holder is None else [holder]
    else:
        address = bus_address(meter)
        holders = [o.id for o in others if o.channel == meter.channel and bus_address(o) == address]
    for holder in holders:
        if holder not in (meter.id, replacing):
            raise reject(
                "address",
                f"address: {meter.address or meter.unit_id} is already used by meter "
                f"{holder} on channel {meter.channel}",
            )
    quantities = [q for spec in plan.reads for q in spec.quantities]
    problem = driver.quantity_problem(meter, quantities) or driver.event_problem(meter, plan.events)
    if problem is not None:
        raise reject("plan", f"plan {plan.name}: {problem.message}")


def check_quantities(meter: MeterConfig, quantities: Sequence[str], where: str) -> None:
    """Raise ``RegistryError`` naming the first quantity this meter cannot be asked for."""
    try:
        driver = driver_for(meter.protocol)
    except UnknownProtocol as exc:
        raise RegistryError(where, f"protocol: {exc}", key="protocol") from None
    problem = driver.quantity_problem(meter, quantities)
    if problem is not None:
        raise RegistryError(where, problem.message, key=problem.key)


def check_meters(config: FleetConfig) -> None:
    """What only the protocol drivers can tell (a plan quantity a meter cannot read, an
    unknown map), checked at load like everything else, so the error names the file, the
    ``[[meters]]`` table and the meter instead of surfacing from the engine."""
    for index, meter in enumerate(config.meters.values()):
        try:
            check_meter(config, meter)
        except RegistryError as exc:
            raise ConfigError(
                config.source, f"meters[{index}]", exc.problem, meter=meter.id
            ) from None
