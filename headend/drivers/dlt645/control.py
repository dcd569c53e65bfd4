"""DL/T 645 commands that change a meter: relay control, clock setting, broadcast time sync.

Every command is verified by reading back, because an acknowledged command is not the same as
a done one (a meter may ack a trip and keep the relay closed when its pre-trip alarm window is
running). Passwords and operator codes come from the meter's configuration: ``password`` is
the level byte followed by the 3-byte password, both in the order printed on the work order
(``02123456`` = level 02, password 123456); the wire carries the level first, then the
password low byte first.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from headend.bus.link import BusLink
from headend.drivers.dlt645.editions import address_of, standard_of
from headend.drivers.dlt645.secured import SECURED, no_module, plaintext_hint, send_sealed
from headend.drivers.dlt645.security_module import SecurityModule
from headend.drivers.dlt645.session import exchange, read_payload, refused, send_broadcast
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import (
    AckResponse,
    ErrorResponse,
    Function,
    RelayAction,
    RelayControlRequest,
    TimeSyncRequest,
    WriteRequest,
    catalogue,
    encode_value,
)
from storage.records import FailureReason

STATUS_WORD_3 = 0x04000503
DATE_DI = 0x04000101
TIME_DI = 0x04000102
COMMAND_VALIDITY = timedelta(minutes=10)
"""Relay orders carry an expiry; a command stuck in a gateway must not trip a flat hours later."""


class RelayState(enum.StrEnum):
    OPEN = "open"
    """Supply cut (tripped)."""
    CLOSED = "closed"
    UNKNOWN = "unknown"
    """The order was acknowledged but the read-back failed."""


def password_bytes(text: str) -> bytes:
    """``"02123456"`` -> level 0x02 then password 123456 low byte first."""
    raw = bytes.fromhex(text)
    return raw[:1] + raw[1:][::-1]


def operator_bytes(text: str) -> bytes:
    return bytes.fromhex(text)[::-1]


@dataclass(frozen=True, slots=True)
class RelayResult:
    action: RelayAction
    state: RelayState
    verified: bool
    """The relay state read back matches what the action asks for."""
    read_back_error: str = ""
    """Why the state could not be read back after the meter acknowledged the order."""


async def read_relay_state(
    link: BusLink, meter: MeterSettings, *, reply_timeout: float
) -> RelayState:
    standard = standard_of(meter.protocol)
    item = catalogue(standard).lookup(STATUS_WORD_3)
    payload = await read_payload(
        link, address_of(meter), STATUS_WORD_3, standard, reply_timeout=reply_timeout
    )
    word = item.decode(payload)
    if not isinstance(word, int):
        raise ReadFailed(FailureReason.NOT_AVAILABLE, f"meter {meter.id}: status word 3 {word}")
    return RelayState.OPEN if item.decode_flags(word)["relay_open"] else RelayState.CLOSED


async def control_relay(
    link: BusLink,
    meter: MeterSettings,
    action: RelayAction,
    meter_now: datetime,
    *,
    reply_timeout: float,
    security: SecurityModule | None = None,
) -> RelayResult:
    """Send a relay order (1C) and read the relay state back; sealed by ``security`` after an
    identity authentication for a meter with ``control = "secured"``.

    Once the meter has acknowledged, a failed read-back is a result (state unknown), not an
    error: the order was carried out as far as the meter said, and raising here would let the
    bus worker's retry send the order a second time.
    """
    address = address_of(meter)
    what = f"relay {action.name.lower()}"
    valid_until = meter_now + COMMAND_VALIDITY
    password, operator = password_bytes(meter.password), operator_bytes(meter.operator_code)
    if meter.control == SECURED:
        if security is None:
            raise no_module(meter.id)
        await send_sealed(
            link,
            meter,
            security,
            Function.RELAY_CONTROL,
            action,
            valid_until,
            what,
            password=password,
            operator=operator,
            reply_timeout=reply_timeout,
        )
    else:
        request = RelayControlRequest(address, action, valid_until, password, operator)
        reply = await exchange(link, request.to_frame(), reply_timeout=reply_timeout)
        if isinstance(reply, ErrorResponse):
            raise plaintext_hint(meter, refused(address, what, reply))
        if not isinstance(reply, AckResponse):
            raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: odd reply to {what}")
    try:
        state = await read_relay_state(link, meter, reply_timeout=reply_timeout)
    except ReadFailed as exc:
        return RelayResult(action, RelayState.UNKNOWN, False, f"{exc.reason.value}: {exc.detail}")
    expected = {RelayAction.TRIP: RelayState.OPEN, RelayAction.CLOSE_DIRECT: RelayState.CLOSED}
    verified = expected.get(action, state) is state
    return RelayResult(action, state, verified)


async def read_meter_clock(
    link: BusLink, meter: MeterSettings, *, reply_timeout: float
) -> datetime:
    """The meter's wall clock (naive: meters know no time zone)."""
    standard = standard_of(meter.protocol)
    address = address_of(meter)
    table = catalogue(standard)
    day_item = table.by_name("date")
    time_item = table.by_name("time")
    day = day_item.decode(
        await read_payload(link, address, day_item.di, standard, reply_timeout=reply_timeout)
    )
    clock = time_item.decode(
        await read_payload(link, address, time_item.di, standard, reply_timeout=reply_timeout)
    )
    if not isinstance(day, date) or not isinstance(clock, time):
        raise ReadFailed(FailureReason.NOT_AVAILABLE, f"meter {meter.id}: clock unreadable")
    return datetime.combine(day, clock)


async def set_meter_clock(
    link: BusLink, meter: MeterSettings, meter_now: datetime, *, reply_timeout: float
) -> None:
    """Set one meter's clock by writing date and time (needs the write password)."""
    standard = standard_of(meter.protocol)
    address = address_of(meter)
    wall = meter_now.replace(tzinfo=None, microsecond=0)
    for di, value in ((DATE_DI, wall.date()), (TIME_DI, wall.time())):
        request = WriteRequest(
            address,
            di,
            encode_value(di, value, standard),
            password=password_bytes(meter.password),
            operator=operator_bytes(meter.operator_code),
            standard=standard,
        )
        reply = await exchange(link, request.to_frame(), reply_timeout=reply_timeout)
        if isinstance(reply, ErrorResponse):
            raise refused(address, f"clock write DI {di:08X}", reply)


async def broadcast_time(link: BusLink, meter_now: datetime) -> None:
    """Broadcast time sync (08) to every meter on the bus; meters do not answer it."""
    await send_broadcast(link, TimeSyncRequest(meter_now).to_frame())
