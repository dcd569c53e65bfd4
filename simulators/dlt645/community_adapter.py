"""The one place that knows ``simulators.community``: values, faults and meters of a scenario.

The community model integrates power into energy, keeps daily frozen records and owns the
scenario's fault schedule; this module turns those into the simulator's ``ValueSource``,
``FaultPlan`` and ``MeterBus`` so the rest of the package never imports the community.
Physical faults (sags, outages, backwards energy) are already in the values and are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from simulators.community.faults import Fault, FaultKind, FaultSchedule, TargetKind
from simulators.community.model import Community
from simulators.dlt645.behaviours import EchoesWildcard, RefusesBlocks
from simulators.dlt645.bus import Clock, MeterBus
from simulators.dlt645.config import DEFAULT_REPLY_DELAY, MeterKind, SimulatedMeterConfig
from simulators.dlt645.esam import EsamConfig
from simulators.dlt645.faults import (
    ClockDrift,
    CorruptChecksum,
    ErrorReply,
    GarbageBytes,
    GatewayDisconnect,
    MeterReplaced,
    MissingFrozen,
    NoReply,
    ScheduledFault,
    SlowReply,
    WireFault,
    WrongAddress,
)
from simulators.dlt645.meter import SimulatedMeter
from simulators.scenario import MeterModel
from transports import SerialSettings


class CommunitySource:
    """One community meter as a ``ValueSource``; asking for a later time advances the model."""

    def __init__(self, community: Community, meter_id: str, *, has_history: bool = False) -> None:
        """``has_history``: the community keeps snapshots (``Community.keep_snapshots``), so
        a past boundary can be asked for (the meter's load profile); otherwise the model
        answers for now only and the meter has no load profile records."""
        self.community = community
        self.meter_id = meter_id
        self.has_history = has_history

    def value(self, quantity: str, at: datetime) -> float | None:
        community = self.community
        if at > community.now:
            community.advance_to(at)
        elif at < community.now and self.has_history:
            shown = community.snapshot(self.meter_id, at)
            return None if shown is None else shown.get(quantity)
        return community.meter_values(self.meter_id).quantities().get(quantity)

    def frozen_energy(self, day: date) -> float | None:
        return self.community.daily_frozen(self.meter_id, day)


def wire_fault(fault: Fault) -> WireFault | None:
    """The simulator's version of a scenario fault; None for faults the physics applies."""
    match fault.kind:
        case FaultKind.NO_REPLY:
            return NoReply()
        case FaultKind.SLOW_REPLY:
            return SlowReply(fault.delay_ms or 0.0)
        case FaultKind.CORRUPT_CHECKSUM:
            return CorruptChecksum()
        case FaultKind.GARBAGE_BYTES:
            return GarbageBytes(fault.garbage_length)
        case FaultKind.WRONG_ADDRESS:
            return WrongAddress()
        case FaultKind.ERROR_RESPONSE:
            return ErrorReply(fault.error_word or 0)
        case FaultKind.CLOCK_DRIFT:
            return ClockDrift(fault.seconds_per_day or 0.0)
        case FaultKind.MISSING_FROZEN:
            return MissingFrozen(fault.days)
        case FaultKind.METER_REPLACED:
            assert fault.new_address is not None  # Fault.__post_init__ requires it
            return MeterReplaced(fault.new_address)
        case FaultKind.GATEWAY_DISCONNECT:
            return GatewayDisconnect()
        case FaultKind.REFUSES_BLOCKS:
            if fault.error_word is None:
                return RefusesBlocks()
            return RefusesBlocks(error_word=fault.error_word)
        case FaultKind.ECHOES_WILDCARD:
            return EchoesWildcard()
    return None


def _scheduled(fault: Fault, meter_id: str | None) -> ScheduledFault | None:
    converted = wire_fault(fault)
    if converted is None:
        return None
    return ScheduledFault(converted, meter_id, fault.start, fault.end)


class CommunityFaultPlan:
    """A scenario's ``FaultSchedule`` seen from one bus, as a ``FaultPlan``."""

    def __init__(self, schedule: FaultSchedule, bus_id: str) -> None:
        self._schedule = schedule
        self._bus_id = bus_id
        self._by_meter: dict[str, tuple[ScheduledFault, ...]] = {}

    def for_meter(self, meter_id: str) -> Sequence[ScheduledFault]:
        cached = self._by_meter.get(meter_id)
        if cached is None:
            found = (_scheduled(f, meter_id) for f in self._schedule.for_meter(meter_id))
            cached = self._by_meter[meter_id] = tuple(f for f in found if f is not None)
        return cached

    def for_bus(self) -> Sequence[ScheduledFault]:
        found = (
            _scheduled(f, None)
            for f in self._schedule.faults
            if f.target_kind is TargetKind.BUS and f.target == self._bus_id
        )
        return tuple(f for f in found if f is not None)


def bus_from_community(
    community: Community,
    bus_id: str,
    settings: SerialSettings,
    *,
    clock: Clock | None = None,
    reply_delay: float = DEFAULT_REPLY_DELAY,
    seed: int = 0,
    esam: EsamConfig | None = None,
) -> MeterBus:
    """The simulated bus ``bus_id`` of a community; the clock defaults to the model's time.
    ``esam`` makes every meter on it a secured meter with that ESAM."""
    scenario = community.scenario
    plan = CommunityFaultPlan(community.faults, bus_id)
    offset = scenario.utc_offset.utcoffset(None)
    meters = [
        SimulatedMeter(
            SimulatedMeterConfig(
                address=spec.address,
                source=CommunitySource(community, spec.id, has_history=community.keeps_snapshots),
                kind=(
                    MeterKind.SINGLE_PHASE
                    if spec.model is MeterModel.SINGLE_PHASE
                    else MeterKind.THREE_PHASE
                ),
                meter_id=spec.id,
                reply_delay=reply_delay,
                utc_offset=offset,
                esam=esam,
            ),
            plan,
        )
        for spec in scenario.meters
        if spec.bus == bus_id
    ]
    if not meters:
        raise KeyError(f"scenario {scenario.name}: no meters on bus {bus_id!r}")
    return MeterBus(
        meters,
        settings,
        clock=clock or (lambda: community.now),
        faults=plan,
        seed=seed,
        name=bus_id,
    )
