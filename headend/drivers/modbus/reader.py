"""Modbus meters on a bus worker: the adapter as a bus connection, and quantity reads.

The register map decides which requests go out (coalesced by the planner); the worker decides
when. Plans are cached per (map, quantities) because a read spec asks for the same set every
interval and planning is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from headend.drivers.modbus import (
    ModbusAdapter,
    ModbusAdapterError,
    ModbusConnectionError,
    ModbusTarget,
    RtuOverTcpTarget,
    SerialTarget,
    TcpTarget,
)
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.modbus import (
    ENERGY_BASE,
    PointResult,
    ReadPlan,
    RegisterMap,
    builtin_register_map,
    plan_reads,
)
from protocols.modbus.points import Ratios
from storage.records import FailureReason, Reading, ReadingKind
from transports import parse_transport_url
from transports.errors import OpenFailed
from transports.settings import DialInSettings, Framing, MemorySettings, SerialSettings

log = logging.getLogger(__name__)


def modbus_target(url: str) -> ModbusTarget:
    """``tcp://`` is Modbus TCP, ``rtu+tcp://`` RTU through a transparent gateway, ``serial://``
    RTU on a local port."""
    settings = parse_transport_url(url, protocol="modbus-rtu")
    if isinstance(settings, SerialSettings):
        return SerialTarget(
            port=settings.port,
            baudrate=settings.baud,
            parity=settings.parity.value,
            bytesize=settings.bytesize,
            stopbits=int(settings.stopbits),
        )
    if isinstance(settings, MemorySettings):
        raise OpenFailed(f"{url}: Modbus needs a real port or socket, not a memory link")
    if isinstance(settings, DialInSettings):  # the fleet file refuses it: a guard only
        raise OpenFailed(f"{url}: dial-in DTUs carry DL/T 645 buses, not Modbus")
    if settings.framing is Framing.MODBUS_RTU:
        return RtuOverTcpTarget(settings.host, settings.port)
    return TcpTarget(settings.host, settings.port)


class ModbusLink:
    """A ``BusConnection`` around the pymodbus adapter."""

    def __init__(self, adapter: ModbusAdapter) -> None:
        self.adapter = adapter

    @property
    def is_open(self) -> bool:
        return self.adapter.connected

    def describe(self) -> str:
        return f"modbus {self.adapter.target}"

    async def open(self) -> None:
        try:
            await self.adapter.open()
        except ModbusConnectionError as exc:
            raise OpenFailed(str(exc)) from exc

    async def aclose(self) -> None:
        await self.adapter.close()


@lru_cache(maxsize=256)
def _plan(map_name: str, energy_base: int | None, quantities: tuple[str, ...]) -> ReadPlan:
    return plan_reads(meter_register_map(map_name, energy_base), quantities)


def meter_register_map(map_name: str, energy_base: int | None = None) -> RegisterMap:
    """A shipped map with the meter's own energy block address, when it has one."""
    bases = None if energy_base is None else {ENERGY_BASE: energy_base}
    return builtin_register_map(map_name, bases=bases)


async def read_modbus(
    link: ModbusLink, meter: MeterSettings, quantities: Sequence[str], slot: datetime
) -> list[Reading]:
    """Read ``quantities`` of one Modbus meter.

    A request the meter fails (timeout, exception reply) makes its points missing readings
    with the reason and the other requests are still read, stored and shown: one refused
    block must not hide a meter's other values. Only when no request was answered does the
    read fail (``ReadFailed``), so the worker retries it and counts the meter as silent.
    """
    assert meter.register_map is not None
    assert meter.unit_id is not None
    plan = _plan(meter.register_map, meter.energy_base, tuple(quantities))
    ratios = Ratios(ct=meter.ct_ratio, pt=meter.pt_ratio)
    try:
        outcome = await link.adapter.read_plan(meter.unit_id, plan, ratios)
    except ModbusAdapterError as exc:
        raise ReadFailed(exc.reason, f"meter {meter.id}: {exc}") from exc
    if outcome.nothing_read and outcome.failures:
        error = outcome.failures[0].error
        raise ReadFailed(error.reason, f"meter {meter.id}: {error}") from error
    for failure in outcome.failures:
        log.warning("meter %s: request %s", meter.id, failure.describe())
    tags = meter.tags()
    return [point_reading(outcome.results[q], meter.id, slot, tags) for q in quantities]


_NO_TAGS: Mapping[str, str] = {}


def point_reading(
    result: PointResult, meter: str, timestamp: datetime, tags: Mapping[str, str] = _NO_TAGS
) -> Reading:
    """The reading record for one decoded point; a missing result becomes a MISSING reading.

    Built here, not in the codec: protocols return values and know nothing of storage's records.
    """
    kind = ReadingKind(result.kind)
    if result.value is None:
        reason = FailureReason(result.reason or FailureReason.NOT_AVAILABLE)
        return Reading.missing(
            meter, result.quantity, result.unit, timestamp, str(reason), kind=kind, tags=tags
        )
    return Reading(
        meter=meter,
        quantity=result.quantity,
        value=result.value,
        unit=result.unit,
        timestamp=timestamp,
        kind=kind,
        tags=tags,
    )
