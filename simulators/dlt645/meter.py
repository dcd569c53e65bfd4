"""One simulated DL/T 645 meter, sans-IO: a request frame and a simulated time in, a reply out.

The meter decides *what* to answer (protocol behaviour, password checks, relay, clock,
follow-up frames); the bus decides *when* and *how it sounds on the line* (reply delay, wire
faults, collisions). Keeping the split means every function code is tested without sockets.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from protocols.dlt645 import (
    AckResponse,
    Address,
    ChangeBaudRequest,
    ErrorResponse,
    ErrorWord,
    Frame,
    FreezeRequest,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    RelayAction,
    RelayControlRequest,
    Request,
    Standard,
    TimeSyncRequest,
    UnknownIdentifier,
    WriteAddressRequest,
    WriteRequest,
    catalogue,
    parse_request,
)
from protocols.dlt645.admin import ChangePasswordRequest, ClearRequest
from protocols.dlt645.control import Function
from protocols.dlt645.errors import EncodeError
from protocols.dlt645.frame import MAX_READ_DATA_LENGTH
from protocols.dlt645.load_profile import is_profile_di, parse_query
from protocols.dlt645.security import (
    IdentityAuthRequest,
    OpenedOrder,
    SealedOrderRequest,
    SecurityErrorResponse,
    SecurityErrorWord,
)
from protocols.errors import ProtocolError
from simulators.dlt645.behaviours import (
    EchoesWildcard,
    RefusalStyle,
    apply_to_payload,
    refusal_of,
)
from simulators.dlt645.config import SimulatedMeterConfig
from simulators.dlt645.esam import Esam
from simulators.dlt645.faults import (
    NO_FAULTS,
    ErrorReply,
    FaultPlan,
    MeterReplaced,
    MissingFrozen,
    NoReply,
    WireFault,
    active,
    drift_seconds,
    first,
)
from simulators.dlt645.load_profile import profile_payload
from simulators.dlt645.registers import MeterView, energy_registers, payload_for
from simulators.dlt645.sources import StoredRegisters

log = logging.getLogger(__name__)

# ErrorWord1997 has the same three bits at the same places (illegal data, bad identifier,
# bad password), so one set of numbers serves both editions.
_OTHER = int(ErrorWord.OTHER)
_NO_DATA = int(ErrorWord.NO_DATA)
_UNAUTHORISED = int(ErrorWord.UNAUTHORISED)
_BAUD_UNCHANGEABLE = int(ErrorWord.BAUD_UNCHANGEABLE)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class SimulatedMeter:
    """A meter's protocol behaviour and state (address, clock, relay, pending follow-ups)."""

    def __init__(self, config: SimulatedMeterConfig, faults: FaultPlan = NO_FAULTS) -> None:
        self.config = config
        self.faults = faults
        self.baud: int | None = None
        """Set by a change-baud command; None means 'whatever the bus runs at'."""
        self.relay_open = False
        self.relay_command_open = False
        self.freezes: list[datetime] = []
        """Meter-clock times of freeze commands received (for tests and demos)."""
        self._address = Address.parse(config.address)
        self.stored = StoredRegisters(self._address.digits, config.tariffs)
        """Settlement periods, demand, events, nameplate: kept, not measured."""
        self._clock_offset = timedelta(0)
        self._synced_at = _EPOCH
        self._follow_ups: dict[int, list[bytes]] = {}
        self._next_1997_part = 0
        self.password = config.password
        """Changed by a change-password order (18)."""
        self.esam = Esam(config.esam, self._address) if config.esam else None
        self.energy_cleared_at: datetime | None = None
        self.energy_at_clear: dict[str, float] = {}
        self.events_cleared_at: datetime | None = None
        self.demand_cleared = False
        self.cleared_events: list[int] = []
        """Event identifiers of event clear orders carried out (FFFFFFFF: all)."""

    @property
    def meter_id(self) -> str:
        return self.config.meter_id

    def start(self, now: datetime) -> None:
        """The meter is powered at ``now``: clock drift counts from here until the first sync."""
        self._synced_at = now

    # ------------------------------------------------------------------ state views

    def active_faults(self, now: datetime) -> tuple[WireFault, ...]:
        return active(self.faults.for_meter(self.meter_id), now)

    def address_at(self, now: datetime) -> Address:
        replaced = first(self.active_faults(now), MeterReplaced)
        return Address.parse(replaced.new_address) if replaced else self._address

    def _true_local(self, now: datetime) -> datetime:
        return (now.astimezone(UTC) + self.config.utc_offset).replace(tzinfo=None)

    def clock(self, now: datetime) -> datetime:
        """The meter's clock (naive local wall time) at simulated UTC ``now``."""
        drift = drift_seconds(self.faults.for_meter(self.meter_id), self._synced_at, now)
        return self._true_local(now) + self._clock_offset + timedelta(seconds=drift)

    def set_clock(self, wall: datetime, now: datetime) -> None:
        """Set the clock to ``wall`` (naive local) at ``now``; drift restarts from zero."""
        self._clock_offset = wall - self._true_local(now)
        self._synced_at = now

    def view(self, now: datetime) -> MeterView:
        missing: set[date] = set()
        for fault in self.active_faults(now):
            if isinstance(fault, MissingFrozen):
                missing.update(fault.days)
        return MeterView(
            at=now,
            clock=self.clock(now),
            today=self._true_local(now).date(),
            address=int(self.address_at(now).digits),
            kind=self.config.kind,
            relay_open=self.relay_open,
            relay_command_open=self.relay_command_open,
            missing_days=frozenset(missing),
            energy_cleared_at=self.energy_cleared_at,
            energy_at_clear=self.energy_at_clear,
            events_cleared_at=self.events_cleared_at,
            demand_cleared=self.demand_cleared,
            stored=self.stored,
            frozen_records=self.config.frozen_records,
        )

    def press_button(self) -> None:
        """The customer presses the meter's button: closes the relay if closing is permitted."""
        if self.relay_open and not self.relay_command_open:
            self.relay_open = False

    # ------------------------------------------------------------------ requests

    def handle(self, frame: Frame, now: datetime) -> Frame | None:
        """The reply to ``frame`` at simulated ``now``; None to stay silent.

        Silent for frames meant for other meters, for broadcasts (which are still applied)
        and while a no_reply fault is active (the request is not applied either).
        """
        address = self.address_at(now)
        if frame.control.from_meter or not frame.address.matches(address):
            return None
        faults = self.active_faults(now)
        if first(faults, NoReply):
            return None
        broadcast = frame.address.is_broadcast
        function = frame.control.function
        try:
            request = parse_request(frame)
        except ProtocolError as exc:
            log.info("meter %s: cannot act on %s: %s", address, frame, exc)
            return None if broadcast else _error(address, function, _OTHER)
        reply = self._answer(request, address, function, now, broadcast=broadcast)
        refusal = first(faults, ErrorReply)
        if reply is not None and refusal is not None:
            return _error(address, function, refusal.error_word)
        if reply is not None and frame.address.is_wildcard and first(faults, EchoesWildcard):
            return Frame(frame.address, reply.control, reply.data)
        return reply

    def _answer(
        self, request: Request, address: Address, function: int, now: datetime, *, broadcast: bool
    ) -> Frame | None:
        match request:
            case TimeSyncRequest():
                self._time_sync(request.when, now)
                return None
            case FreezeRequest():
                self.freezes.append(self.clock(now))
                return None if broadcast else AckResponse(address, function).to_frame()
        if broadcast:
            return None
        match request:
            case ReadRequest():
                return self._read(request, address, function, now)
            case ReadFollowUpRequest():
                return self._follow_up(request, address, function)
            case ReadAddressRequest():
                return ReadAddressResponse(address).to_frame()
            case WriteRequest():
                return self._write(request, address, function, now)
            case WriteAddressRequest():
                if request.new_address.is_wildcard or request.new_address.is_broadcast:
                    return _error(address, function, _OTHER)
                self._address = request.new_address
                return AckResponse(request.new_address, function).to_frame()
            case ChangeBaudRequest():
                if request.baud not in self.config.supported_bauds:
                    return _error(address, function, _BAUD_UNCHANGEABLE)
                self.baud = request.baud
                feature = ChangeBaudRequest(address, request.baud).to_frame().data
                return AckResponse(address, function, feature).to_frame()
            case RelayControlRequest():
                if self.esam is not None:
                    log.info("meter %s: plaintext relay control refused (secured)", address)
                    return _error(address, function, _UNAUTHORISED)
                return self._relay(request, address, function, now)
            case IdentityAuthRequest():
                if self.esam is None:
                    return SecurityErrorResponse(address, SecurityErrorWord.OTHER).to_frame()
                return self.esam.authenticate(request).to_frame()
            case SealedOrderRequest():
                return self._sealed(request, address, function, now)
            case ChangePasswordRequest():
                if request.password != self.password:
                    return _error(address, function, _UNAUTHORISED)
                self.password = request.new_password
                return AckResponse(address, function, request.new_password).to_frame()
            case ClearRequest():
                secured_only = function != Function.CLEAR_DEMAND and self.esam is not None
                if secured_only or request.password != self.password:
                    return _error(address, function, _UNAUTHORISED)
                self._clear(request.function, request.event_di, now)
                return AckResponse(address, function).to_frame()
        return _error(address, function, _OTHER)

    def _sealed(
        self, request: SealedOrderRequest, address: Address, function: int, now: datetime
    ) -> Frame:
        """An order sealed by the master's security module: the ESAM opens it, then it acts."""
        opened = self.esam.open(request) if self.esam is not None else None
        if opened is None:
            return _error(address, function, _UNAUTHORISED)
        if opened.valid_until < self.clock(now):
            return _error(address, function, _OTHER)  # the order has expired
        if function == Function.RELAY_CONTROL:
            return self._act_on_relay(opened, address, function)
        if opened.code != function:
            return _error(address, function, _OTHER)
        event_di = int.from_bytes(opened.tail[:4], "little") if opened.tail else 0xFFFFFFFF
        self._clear(Function(function), event_di, now)
        return AckResponse(address, function).to_frame()

    def _act_on_relay(self, opened: OpenedOrder, address: Address, function: int) -> Frame:
        try:
            action = RelayAction(opened.code)
        except ValueError:
            return _error(address, function, _OTHER)
        self._switch(action)
        return AckResponse(address, function).to_frame()

    def _clear(self, function: Function, event_di: int, now: datetime) -> None:
        match function:
            case Function.CLEAR_METER:
                self.energy_cleared_at = self.events_cleared_at = now
                self.energy_at_clear = energy_registers(self.config.source, now)
                self.demand_cleared = True
            case Function.CLEAR_DEMAND:
                self.demand_cleared = True
            case Function.CLEAR_EVENTS:
                self.events_cleared_at = now
                self.cleared_events.append(event_di)

    def _time_sync(self, when: datetime, now: datetime) -> None:
        limit = self.config.time_sync_max_offset
        if limit is not None and abs(when - self.clock(now)) > limit:
            log.info("meter %s: time sync to %s refused (limit %s)", self._address, when, limit)
            return
        self.set_clock(when, now)

    def _read(
        self, request: ReadRequest, address: Address, function: int, now: datetime
    ) -> Frame | None:
        standard = request.standard
        if standard is not self.config.standard:
            return _error(address, function, _OTHER)
        if standard is Standard.DLT645_2007 and is_profile_di(request.di):
            return self._load_profile(request, address, function, now)
        try:
            item = catalogue(standard).lookup(request.di)
        except UnknownIdentifier:
            return _error(address, function, _NO_DATA)
        quirks = self.active_faults(now)
        refusal = refusal_of(quirks, item)
        if refusal is not None:
            match refusal.style:
                case RefusalStyle.SILENT:
                    return None
                case RefusalStyle.EMPTY:
                    return ReadResponse(address, request.di, b"", standard=standard).to_frame()
            return _error(address, function, refusal.error_word)
        payload = payload_for(item, request.di, self.config.source, self.view(now))
        if payload is None:
            return _error(address, function, _NO_DATA)
        payload = apply_to_payload(quirks, item, request.di, payload)
        parts = self._split(payload, standard)
        self._follow_ups[request.di] = parts[1:]
        self._next_1997_part = 0
        more = len(parts) > 1
        long = self.config.max_data_length > MAX_READ_DATA_LENGTH
        return ReadResponse(
            address, request.di, parts[0], more=more, standard=standard, long=long
        ).to_frame()

    def _load_profile(
        self, request: ReadRequest, address: Address, function: int, now: datetime
    ) -> Frame:
        interval = self.config.load_profile_interval
        try:
            query = parse_query(request.di, request.parameters)
        except (ValueError, EncodeError) as exc:
            log.info("meter %s: load profile request: %s", address, exc)
            return _error(address, function, _OTHER)
        payload = None
        if interval is not None:
            payload = profile_payload(
                query,
                self.config.source,
                wall_now=self.clock(now),
                utc_offset=self.config.utc_offset,
                interval=interval,
            )
        if payload is None:
            return _error(address, function, _NO_DATA)
        return self._reply_in_parts(request.di, payload, address)

    def _reply_in_parts(self, di: int, payload: bytes, address: Address) -> Frame:
        standard = self.config.standard
        parts = self._split(payload, standard)
        self._follow_ups[di] = parts[1:]
        self._next_1997_part = 0
        long = self.config.max_data_length > MAX_READ_DATA_LENGTH
        return ReadResponse(
            address, di, parts[0], more=len(parts) > 1, standard=standard, long=long
        ).to_frame()

    def _split(self, payload: bytes, standard: Standard) -> list[bytes]:
        """The payload cut to fit ``max_data_length``: a first part, then follow-up parts."""
        width = standard.di_length
        first_size = self.config.max_data_length - width
        later_size = first_size - (1 if standard is Standard.DLT645_2007 else 0)
        parts = [payload[:first_size]]
        rest = payload[first_size:]
        while rest:
            parts.append(rest[:later_size])
            rest = rest[later_size:]
        return parts

    def _follow_up(self, request: ReadFollowUpRequest, address: Address, function: int) -> Frame:
        parts = self._follow_ups.get(request.di, [])
        if request.standard is Standard.DLT645_2007:
            index = request.seq - 1
        else:
            index = self._next_1997_part
            self._next_1997_part += 1
        if not 0 <= index < len(parts):
            return _error(address, function, _NO_DATA)
        return ReadResponse(
            address,
            request.di,
            parts[index],
            more=index + 1 < len(parts),
            follow_up=True,
            seq=request.seq,
            standard=request.standard,
            long=self.config.max_data_length > MAX_READ_DATA_LENGTH,
        ).to_frame()

    def _write(
        self, request: WriteRequest, address: Address, function: int, now: datetime
    ) -> Frame:
        if request.password != self.password:
            return _error(address, function, _UNAUTHORISED)
        try:
            item = catalogue(request.standard).lookup(request.di)
            value = item.decode(request.payload)
        except UnknownIdentifier:
            return _error(address, function, _NO_DATA)
        except ProtocolError:
            return _error(address, function, _OTHER)
        clock = self.clock(now)
        if item.name == "date" and isinstance(value, date):
            self.set_clock(datetime.combine(value, clock.time()), now)
        elif item.name == "time" and isinstance(value, time):
            self.set_clock(datetime.combine(clock.date(), value), now)
        else:
            return _error(address, function, _OTHER)
        return AckResponse(address, function).to_frame()

    def _relay(
        self, request: RelayControlRequest, address: Address, function: int, now: datetime
    ) -> Frame:
        if request.password != self.password:
            return _error(address, function, _UNAUTHORISED)
        if request.valid_until < self.clock(now):
            return _error(address, function, _OTHER)  # the order has expired
        self._switch(request.action)
        return AckResponse(address, function).to_frame()

    def _switch(self, action: RelayAction) -> None:
        match action:
            case RelayAction.TRIP:
                self.relay_open = self.relay_command_open = True
            case RelayAction.CLOSE_PERMITTED:
                self.relay_command_open = False
            case RelayAction.CLOSE_DIRECT:
                self.relay_open = self.relay_command_open = False


def _error(address: Address, function: int, word: int) -> Frame:
    return ErrorResponse(address, function, word).to_frame()
