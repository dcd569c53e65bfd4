"""The administrative orders on one DL/T 645-2007 meter: change password (18), demand clear
(19), meter clear (1A), event clear (1B).

A meter clear wipes the energy registers billing runs on; so these are admin-only, confirmed
and audited above (``headend.commands.admin``). Here only the frames: a secured meter takes 1A
and 1B sealed after an identity authentication (like relay control), 18 and 19 in plaintext
with the meter's password.
"""

from __future__ import annotations

import enum
from datetime import datetime

from headend.bus.link import BusLink
from headend.drivers.dlt645.control import COMMAND_VALIDITY, operator_bytes, password_bytes
from headend.drivers.dlt645.editions import address_of
from headend.drivers.dlt645.secured import SECURED, no_module, plaintext_hint, send_sealed
from headend.drivers.dlt645.security_module import SecurityModule
from headend.drivers.dlt645.session import exchange, refused
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import AckResponse, ErrorResponse, Function
from protocols.dlt645.admin import ALL_EVENTS, ChangePasswordRequest, ClearRequest
from storage.records import FailureReason


class AdminOrder(enum.StrEnum):
    CHANGE_PASSWORD = "change_password"
    DEMAND_CLEAR = "demand_clear"
    METER_CLEAR = "meter_clear"
    EVENT_CLEAR = "event_clear"

    @property
    def function(self) -> Function:
        return _FUNCTIONS[self]


_FUNCTIONS = {
    AdminOrder.CHANGE_PASSWORD: Function.CHANGE_PASSWORD,
    AdminOrder.DEMAND_CLEAR: Function.CLEAR_DEMAND,
    AdminOrder.METER_CLEAR: Function.CLEAR_METER,
    AdminOrder.EVENT_CLEAR: Function.CLEAR_EVENTS,
}
_SEALED = frozenset({AdminOrder.METER_CLEAR, AdminOrder.EVENT_CLEAR})


async def run_admin_order(
    link: BusLink,
    meter: MeterSettings,
    order: AdminOrder,
    meter_now: datetime,
    *,
    reply_timeout: float,
    security: SecurityModule | None = None,
    new_password: str | None = None,
    event_di: int = ALL_EVENTS,
) -> str:
    """Send one administrative order; returns what the meter confirmed (for the audit)."""
    address = address_of(meter)
    password, operator = password_bytes(meter.password), operator_bytes(meter.operator_code)
    what = order.value.replace("_", " ")
    if order in _SEALED and meter.control == SECURED:
        if security is None:
            raise no_module(meter.id)
        tail = event_di.to_bytes(4, "little") if order is AdminOrder.EVENT_CLEAR else b""
        session = await send_sealed(
            link,
            meter,
            security,
            order.function,
            order.function,
            meter_now + COMMAND_VALIDITY,
            what,
            password=password,
            operator=operator,
            tail=tail,
            reply_timeout=reply_timeout,
        )
        return f"{what} done (sealed, ESAM {session.esam_serial.hex().upper()})"
    if order is AdminOrder.CHANGE_PASSWORD:
        if new_password is None:
            raise ReadFailed(FailureReason.UNSUPPORTED, f"meter {meter.id}: no new password")
        frame = ChangePasswordRequest(address, password, password_bytes(new_password)).to_frame()
    else:
        frame = ClearRequest(address, order.function, password, operator, event_di).to_frame()
    reply = await exchange(link, frame, reply_timeout=reply_timeout)
    if isinstance(reply, ErrorResponse):
        raise plaintext_hint(meter, refused(address, what, reply))
    if not isinstance(reply, AckResponse):
        raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: odd reply to {what}")
    if order is AdminOrder.CHANGE_PASSWORD:
        return f"{what} done: level {new_password and new_password[:2]} replaced"
    return f"{what} done"
