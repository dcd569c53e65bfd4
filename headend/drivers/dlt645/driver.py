"""The DL/T 645 driver: one instance per edition (2007, 1997), both on the same buses."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from headend.bus.link import BusLink
from headend.drivers.base import (
    Capability,
    Driver,
    FrozenDay,
    LoggedEvent,
    MeterProblem,
    ReadAction,
)
from headend.drivers.dlt645 import control, events
from headend.drivers.dlt645.admin import AdminOrder, run_admin_order
from headend.drivers.dlt645.editions import protocol_name
from headend.drivers.dlt645.frozen import FROZEN_ENERGY, read_frozen_record
from headend.drivers.dlt645.reader import plan_dlt645, read_dlt645
from headend.drivers.settings import ChannelSettings, MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import (
    ErrorWord,
    Standard,
    UnknownIdentifier,
    catalogue,
)
from storage.records import Quality, Reading, ReadingKind
from transports import create_transport

if TYPE_CHECKING:
    from headend.drivers.dlt645.control import RelayResult
    from headend.drivers.dlt645.security_module import SecurityModule
    from protocols.dlt645 import RelayAction
    from transports.dial_in_listener import DialInListener
    from transports.memory import MemoryNetwork

_NAMEPLATE_ADDRESS = re.compile(r"[0-9]{12}")
"""A meter's own address as printed on it (wildcard 'A' digits address no meter of a fleet)."""


class Dlt645Driver(Driver[BusLink]):
    family = "dlt645"
    meter_keys = ("address",)
    capabilities = frozenset(
        {
            Capability.FROZEN,
            Capability.CLOCK,
            Capability.TIME_BROADCAST,
            Capability.RELAY,
            Capability.BLOCK_READS,
            Capability.ADMIN,
            Capability.EVENTS,
        }
    )

    def __init__(self, standard: Standard) -> None:
        self.standard = standard
        self.protocol = protocol_name(standard)
        self.transport_protocol = self.protocol
        """``transports`` knows both editions' serial defaults (2400 8E1, 1200 8E1)."""

    def meter_problem(self, meter: MeterSettings) -> MeterProblem | None:
        if meter.address is None:
            return MeterProblem("address", "address: a DL/T 645 meter needs its address")
        # The same rule as the fleet file's: a configured meter has its nameplate address, never
        # one with wildcard digits (those only search a bus).
        problem = self.address_problem(meter.address)
        return None if problem is None else MeterProblem("address", f"address: {problem}")

    def address_problem(self, address: str | None) -> str | None:
        if address is None or not _NAMEPLATE_ADDRESS.fullmatch(address):
            return f"expected the 12-digit meter address, got {address!r}"
        return None

    def quantity_problem(
        self, meter: MeterSettings, quantities: Sequence[str]
    ) -> MeterProblem | None:
        try:
            plan_dlt645(tuple(quantities), self.standard)
        except UnknownIdentifier as exc:
            return MeterProblem("quantities", str(exc))
        return None

    def unit_and_kind(self, meter: MeterSettings, quantity: str) -> tuple[str, ReadingKind] | None:
        return _unit_and_kind(self.standard, quantity)

    def connection(
        self,
        channel: ChannelSettings,
        memory: MemoryNetwork | None,
        dial_in: DialInListener | None = None,
    ) -> BusLink:
        transport = create_transport(
            channel.url, protocol=self.transport_protocol, memory=memory, dial_in=dial_in
        )
        return BusLink(transport, gap=channel.inter_frame_gap)

    def read_action(
        self,
        channel: ChannelSettings,
        meter: MeterSettings,
        quantities: Sequence[str],
        slot: datetime,
    ) -> ReadAction[BusLink]:
        # A plain function handing back the reader's coroutine, not an ``async def`` around
        # it: every frame in a read's await chain is walked again each time the read resumes.
        def action(link: BusLink) -> Awaitable[list[Reading]]:
            return read_dlt645(
                link,
                meter,
                quantities,
                slot,
                reply_timeout=channel.timeout,
                support=self.block_support,
            )

        return action

    async def read_frozen(
        self,
        link: BusLink,
        meter: MeterSettings,
        record: int,
        tz: ZoneInfo,
        *,
        quality: Quality,
        reply_timeout: float,
    ) -> FrozenDay:
        return await read_frozen_record(
            link, meter, record, tz, quality=quality, reply_timeout=reply_timeout
        )

    def event_problem(self, meter: MeterSettings, kinds: Sequence[str]) -> MeterProblem | None:
        return events.event_problem(self.standard, tuple(kinds))

    async def read_events(
        self,
        link: BusLink,
        meter: MeterSettings,
        kind: str,
        tz: ZoneInfo,
        *,
        known: Callable[[datetime], bool],
        reply_timeout: float,
    ) -> list[LoggedEvent]:
        return await events.read_event_log(
            link, meter, kind, tz, known=known, reply_timeout=reply_timeout
        )

    def frozen_records(self, meter: MeterSettings) -> int:
        """The catalogue's history of the daily frozen energy (62 in Q/GDW 1354); a meter that
        keeps fewer answers "no requested data" past them, which the backfill remembers."""
        return _frozen_records(self.standard)

    def holds_no_record(self, error: ReadFailed) -> bool:
        """The meter's error word says "no requested data" (bit 1)."""
        return error.error_word is not None and bool(error.error_word & ErrorWord.NO_DATA)

    async def read_clock(
        self, link: BusLink, meter: MeterSettings, *, reply_timeout: float
    ) -> datetime:
        return await control.read_meter_clock(link, meter, reply_timeout=reply_timeout)

    async def set_clock(
        self, link: BusLink, meter: MeterSettings, meter_now: datetime, *, reply_timeout: float
    ) -> None:
        await control.set_meter_clock(link, meter, meter_now, reply_timeout=reply_timeout)

    async def broadcast_time(self, link: BusLink, meter_now: datetime) -> None:
        await control.broadcast_time(link, meter_now)

    async def control_relay(
        self,
        link: BusLink,
        meter: MeterSettings,
        action: RelayAction,
        meter_now: datetime,
        *,
        reply_timeout: float,
        security: SecurityModule | None = None,
    ) -> RelayResult:
        return await control.control_relay(
            link, meter, action, meter_now, reply_timeout=reply_timeout, security=security
        )

    async def admin_order(
        self,
        link: BusLink,
        meter: MeterSettings,
        order: AdminOrder,
        meter_now: datetime,
        *,
        reply_timeout: float,
        security: SecurityModule | None = None,
        new_password: str | None = None,
    ) -> str:
        if self.standard is not Standard.DLT645_2007:
            raise self.unsupported(meter.id, f"{order.value} in DL/T 645-1997")
        return await run_admin_order(
            link,
            meter,
            order,
            meter_now,
            reply_timeout=reply_timeout,
            security=security,
            new_password=new_password,
        )


@cache
def _frozen_records(standard: Standard) -> int:
    try:
        return catalogue(standard).by_name(FROZEN_ENERGY).history
    except UnknownIdentifier:
        return 0  # DL/T 645-1997 has no daily frozen records


@cache
def _unit_and_kind(standard: Standard, quantity: str) -> tuple[str, ReadingKind] | None:
    try:
        item = catalogue(standard).by_name(quantity)
        return item.unit, ReadingKind(item.kind)
    except (UnknownIdentifier, ValueError):
        return None
