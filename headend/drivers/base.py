"""What every protocol driver offers the head-end: one ``Driver`` per protocol folder.

The head-end above this package (config checks, collection, backfill, operator commands) asks a
driver instead of comparing protocol names, so a new protocol is its folder plus one line in
``headend.drivers.registry``. A driver says what it can do (``capabilities``); what it cannot
do it does not implement, and the defaults here refuse with ``FailureReason.UNSUPPORTED`` (the
API answers 409) naming the meter, the command and the protocol.

Drivers take the meter's and the channel's settings as the structural types of
``headend.drivers.settings``: config sits above the drivers and asks them what a meter needs,
so the drivers import nothing of config, not even for annotations.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Generic, TypeVar
from zoneinfo import ZoneInfo

from headend.bus.worker import BusConnection
from headend.drivers.block_support import BlockSupportBook
from headend.drivers.settings import ChannelSettings, MeterSettings
from headend.errors import ReadFailed
from storage.records import EventRecord, FailureReason, Quality, Reading, ReadingKind

if TYPE_CHECKING:
    from headend.drivers.dlt645.admin import AdminOrder
    from headend.drivers.dlt645.control import RelayResult
    from headend.drivers.dlt645.security_module import SecurityModule
    from protocols.dlt645 import RelayAction
    from transports.dial_in_listener import DialInListener
    from transports.memory import MemoryNetwork

C = TypeVar("C", bound=BusConnection)
"""The connection a driver's bus actions run on (a byte link, a pymodbus adapter)."""

ReadAction = Callable[[C], Awaitable[list[Reading]]]
"""One bus job: read some quantities of one meter on the channel's connection."""


class Capability(enum.StrEnum):
    """What a protocol can do beyond reading quantities; the engine asks before it schedules."""

    FROZEN = "frozen"
    """Daily frozen records: yesterday's billing value and backfill (补抄) of missed days."""
    CLOCK = "clock"
    """Read one meter's clock and set it when it drifts."""
    TIME_BROADCAST = "time_broadcast"
    """One broadcast frame sets every clock on a bus (no meter answers it)."""
    RELAY = "relay"
    """Trip and close the supply relay, verified by reading the state back."""
    BLOCK_READS = "block_reads"
    """Several quantities in one exchange (a DL/T 645 block, coalesced Modbus registers)."""
    ADMIN = "admin"
    """Change password, demand clear, meter clear, event clear (DL/T 645 18-1B)."""
    EVENTS = "events"
    """The meter's own event log (DL/T 645 03xxxxxx: power-down, cover open, clears...)."""


@dataclass(frozen=True, slots=True)
class MeterProblem:
    """Why a meter cannot be read as configured: the meter field at fault and what is wrong.

    ``message`` is the whole statement as an operator reads it after the meter's name (it may
    start with the key, ``"address: a DL/T 645 meter needs its address"``); ``key`` is the
    field, so callers place the error (a 422's ``loc``) without parsing the text.
    """

    key: str
    message: str


@dataclass(frozen=True, slots=True)
class FrozenDay:
    """One daily freeze of one meter, as its frozen-record read returns it."""

    day: date
    """The local calendar day whose 00:00 freeze this is."""
    frozen_at: datetime
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One record of a meter's event log: when it started and, once over, ended, and the
    events stored for it (its start and, if known, its end)."""

    kind: str
    start: datetime
    end: datetime | None
    records: tuple[EventRecord, ...]
    over: bool
    """Ended (or a point event): read again, it would say the same."""


class Driver(abc.ABC, Generic[C]):
    """One protocol (one edition of it): meter checks, the read of a slot, and what else it can.

    ``protocol`` is the name fleet files and the API use; ``family`` groups protocols whose
    meters can share one bus (the same connection carries their frames: both DL/T 645 editions
    on one RS-485 line); ``transport_protocol`` picks the serial line defaults of a channel URL
    (``transports.parse_transport_url``); ``meter_keys`` are the meter settings the protocol
    addresses a meter by.
    """

    protocol: str
    family: str
    transport_protocol: str
    meter_keys: tuple[str, ...]
    capabilities: frozenset[Capability] = frozenset()
    block_support: BlockSupportBook = BlockSupportBook()
    """What each meter showed of block reads; a driver that plans blocks reads and learns it."""

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def use_block_support(self, book: BlockSupportBook) -> None:
        """The engine's book (saved in its data dir); drivers are shared, so the engine being
        built hands every driver its book, and the last one built wins."""
        self.block_support = book

    # -- what a meter of this protocol needs -------------------------------------------------

    @abc.abstractmethod
    def meter_problem(self, meter: MeterSettings) -> MeterProblem | None:
        """The first setting this meter lacks to be addressed (an address, a unit id)."""

    def address_problem(self, address: str | None) -> str | None:
        """Why ``address`` (as a fleet file gives it, None when absent) cannot address a meter
        of this protocol; checked at load for protocols whose ``meter_keys`` name ``address``."""
        return None

    @abc.abstractmethod
    def quantity_problem(
        self, meter: MeterSettings, quantities: Sequence[str]
    ) -> MeterProblem | None:
        """The first of ``quantities`` this meter cannot be asked for (checked at load and for
        every on-demand read, not discovered by a failing read at 03:00)."""

    @abc.abstractmethod
    def unit_and_kind(self, meter: MeterSettings, quantity: str) -> tuple[str, ReadingKind] | None:
        """The unit and kind ``meter`` reports ``quantity`` in; None if the protocol has no such
        quantity for this meter."""

    # -- reading -----------------------------------------------------------------------------

    @abc.abstractmethod
    def connection(
        self,
        channel: ChannelSettings,
        memory: MemoryNetwork | None,
        dial_in: DialInListener | None = None,
    ) -> C:
        """The (closed) connection the channel's bus worker opens and reopens; ``memory`` and
        ``dial_in`` resolve ``memory://`` and ``dialin://`` channel URLs."""

    @abc.abstractmethod
    def read_action(
        self,
        channel: ChannelSettings,
        meter: MeterSettings,
        quantities: Sequence[str],
        slot: datetime,
    ) -> ReadAction[C]:
        """The bus job that reads ``quantities`` of ``meter`` stamped ``slot``; it raises
        ``ReadFailed`` when the meter does not answer properly, so the worker retries."""

    # -- optional capabilities: the defaults refuse ------------------------------------------

    async def read_frozen(
        self,
        link: C,
        meter: MeterSettings,
        record: int,
        tz: ZoneInfo,
        *,
        quality: Quality,
        reply_timeout: float,
    ) -> FrozenDay:
        """Freeze number ``record`` (1 = latest) of one meter (``Capability.FROZEN``)."""
        raise self.unsupported(meter.id, "daily frozen records")

    def event_problem(self, meter: MeterSettings, kinds: Sequence[str]) -> MeterProblem | None:
        """Why a plan's ``events`` cannot be read from this meter (None: they can)."""
        if not kinds:
            return None
        return MeterProblem("events", f"events: protocol {self.protocol} has no event log")

    async def read_events(
        self,
        link: C,
        meter: MeterSettings,
        kind: str,
        tz: ZoneInfo,
        *,
        known: Callable[[datetime], bool],
        reply_timeout: float,
    ) -> list[LoggedEvent]:
        """The meter's records of event ``kind``, newest first, up to the first one ``known``
        says is already stored in full (``Capability.EVENTS``)."""
        raise self.unsupported(meter.id, "event records")

    def frozen_records(self, meter: MeterSettings) -> int:
        """How many daily freezes (records 1..N) the meter's protocol lets a read reach:
        the bound of its backfill window (0 without ``Capability.FROZEN``)."""
        return 0

    def holds_no_record(self, error: ReadFailed) -> bool:
        """Whether a refused frozen read means the meter does not hold that record (it never
        will: records only age), so backfill stops asking for that day."""
        return False

    async def read_clock(self, link: C, meter: MeterSettings, *, reply_timeout: float) -> datetime:
        """The meter's wall clock, naive (``Capability.CLOCK``)."""
        raise self.unsupported(meter.id, "clock reading")

    async def set_clock(
        self, link: C, meter: MeterSettings, meter_now: datetime, *, reply_timeout: float
    ) -> None:
        """Set one meter's clock to ``meter_now`` (``Capability.CLOCK``)."""
        raise self.unsupported(meter.id, "clock setting")

    async def broadcast_time(self, link: C, meter_now: datetime) -> None:
        """Set every clock on the bus at once (``Capability.TIME_BROADCAST``)."""
        raise self.unsupported("*", "broadcast time sync")

    async def control_relay(
        self,
        link: C,
        meter: MeterSettings,
        action: RelayAction,
        meter_now: datetime,
        *,
        reply_timeout: float,
        security: SecurityModule | None = None,
    ) -> RelayResult:
        """Send a relay order and read the state back (``Capability.RELAY``); ``security``
        seals it for a meter that takes secured control only."""
        raise self.unsupported(meter.id, "relay control")

    async def admin_order(
        self,
        link: C,
        meter: MeterSettings,
        order: AdminOrder,
        meter_now: datetime,
        *,
        reply_timeout: float,
        security: SecurityModule | None = None,
        new_password: str | None = None,
    ) -> str:
        """Change password or clear demand, energy or events (``Capability.ADMIN``); returns
        what the meter confirmed."""
        raise self.unsupported(meter.id, order.value.replace("_", " "))

    def unsupported(self, meter_id: str, what: str) -> ReadFailed:
        return ReadFailed(
            FailureReason.UNSUPPORTED, f"meter {meter_id}: {self.protocol} has no {what}"
        )
