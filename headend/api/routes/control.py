"""Operator routes: on-demand reads, relay control, clock, time sync, alarm acknowledgement,
and the audit trail. Each records the token's name as the user.

Relay control (with the operator's reason) and the admin-only orders (change password, demand,
meter and event clear; confirmed by naming the meter) are audited (``headend.commands``)
whatever the outcome (an intent before the order, then ok, refused, failed, unverified or
unknown); this layer only translates the request and the failure into HTTP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.models import (
    AdminOrderIn,
    AdminOrderOut,
    AlarmOut,
    AuditOut,
    ClockOut,
    ReadingOut,
    ReadRequestIn,
    RelayIn,
    RelayOut,
    TimeSyncOut,
)
from headend.api.problems import InvalidField
from headend.commands.admin import NotConfirmed
from headend.config.meters import RegistryError
from headend.drivers.dlt645.admin import AdminOrder
from protocols.dlt645 import RelayAction

DEFAULT_AUDIT_PAGE = 100
MAX_AUDIT_PAGE = 1000


def control_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api", tags=["control"])

    def known(meter_id: str) -> None:
        """404 for a meter neither a bus nor a terminal has (a concentrator's meter is reached
        through its terminal, forwarded by AFN 10)."""
        if headend.terminal_meter(meter_id) is None:
            headend.meter(meter_id)

    @router.post("/meters/{meter_id}/read", response_model=list[ReadingOut])
    async def read_now(
        meter_id: str,
        request: Annotated[ReadRequestIn | None, Body()] = None,
        caller: Caller = ctx.operator,
    ) -> list[ReadingOut]:
        quantities = request.quantities if request else None
        known(meter_id)
        try:
            readings = await headend.read_now(meter_id, quantities)
        except RegistryError as exc:
            raise InvalidField(("body", "quantities"), str(exc)) from None
        return [ReadingOut.of(r) for r in readings]

    @router.post("/meters/{meter_id}/relay", response_model=RelayOut)
    async def relay(meter_id: str, request: RelayIn, caller: Caller = ctx.operator) -> RelayOut:
        action = RelayAction[request.action.upper()]
        result = await headend.relay(meter_id, action, caller.name, request.reason)
        return RelayOut(
            meter=meter_id,
            action=request.action,
            state=result.state,
            verified=result.verified,
            user=caller.name,
        )

    @router.post("/meters/{meter_id}/admin", response_model=AdminOrderOut)
    async def admin_order(
        meter_id: str, request: AdminOrderIn, caller: Caller = ctx.admin
    ) -> AdminOrderOut:
        """Change password, demand clear, meter clear or event clear: admin only, and
        ``confirm`` must repeat the meter id (422 naming the field otherwise)."""
        known(meter_id)
        if request.order == "change_password" and request.new_password is None:
            raise InvalidField(("body", "new_password"), "change_password needs new_password")
        try:
            result = await headend.admin_order(
                meter_id,
                AdminOrder(request.order),
                caller.name,
                confirm=request.confirm,
                reason=request.reason,
                new_password=request.new_password,
            )
        except NotConfirmed as exc:
            raise InvalidField(("body", "confirm"), str(exc)) from None
        return AdminOrderOut(meter=meter_id, order=request.order, result=result, user=caller.name)

    @router.post("/meters/{meter_id}/clock", response_model=ClockOut)
    async def check_clock(meter_id: str, caller: Caller = ctx.operator) -> ClockOut:
        known(meter_id)
        drift = await headend.check_clock(meter_id, caller.name)
        return ClockOut(meter=meter_id, drift_seconds=drift)

    @router.post("/time-sync", response_model=TimeSyncOut)
    async def time_sync(caller: Caller = ctx.operator) -> TimeSyncOut:
        return TimeSyncOut(channels=await headend.broadcast_time_sync(caller.name))

    # ``:path``: anomaly ids are ``kind/subject_kind/subject/start``. Starlette decodes %2F
    # before routing, so a plain segment parameter never matches them, encoded or not.
    @router.post("/alarms/{alarm_id:path}/ack", response_model=AlarmOut)
    async def acknowledge(alarm_id: str, caller: Caller = ctx.operator) -> AlarmOut:
        alarm = headend.acknowledge(alarm_id, caller.name)
        return AlarmOut.of(alarm)

    @router.get("/audit", response_model=list[AuditOut], dependencies=[ctx.operator])
    async def audit(
        meter: Annotated[str | None, Query(description="Only this meter's entries")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = DEFAULT_AUDIT_PAGE,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[AuditOut]:
        """Newest first, from the audit file's tail (kept across restarts), one page."""
        entries = headend.audit_entries(meter, limit=limit, offset=offset)
        return [AuditOut.of(entry) for entry in entries]

    return router
