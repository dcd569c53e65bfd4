"""Administrative orders on one meter: change password, demand clear, meter clear, event clear.

A meter clear wipes the energy registers a household is billed from, and an event clear the
record of cover openings and tampering; neither can be undone. So each order needs the
caller to name the meter a second time (``confirm``), is refused with a clear error without
it (nothing queued, nothing audited), and is audited like relay control: an fsync'd intent
before the frame is queued, then the outcome. Admin-only is the API's and CLI's part.
"""

from __future__ import annotations

from dataclasses import replace

from headend.commands.admin_order import send_admin_order
from headend.commands.context import CommandContext
from headend.commands.fleet_changes import FleetChanges
from headend.drivers.base import Capability
from headend.drivers.dlt645.admin import AdminOrder
from headend.errors import HeadendError


class NotConfirmed(HeadendError, ValueError):
    """An administrative order without the confirmation naming its meter."""

    def __init__(self, meter_id: str, order: AdminOrder, confirm: str | None) -> None:
        given = "none given" if not confirm else f"got {confirm!r}"
        super().__init__(
            f"{order.value} of meter {meter_id} cannot be undone: confirm it by naming the "
            f"meter (confirm = {meter_id!r}; {given})"
        )
        self.meter_id = meter_id
        self.order = order


class AdminCommands:
    def __init__(self, ctx: CommandContext, fleet: FleetChanges | None = None) -> None:
        """``fleet``: where a changed password is kept (else the head-end would go on sending
        the old one, and every later order to that meter would be refused as unauthorised)."""
        self.ctx = ctx
        self.fleet = fleet

    async def run(
        self,
        meter_id: str,
        order: AdminOrder,
        user: str,
        *,
        confirm: str | None,
        reason: str = "",
        new_password: str | None = None,
    ) -> str:
        """Send ``order`` to the meter once ``confirm`` names it; returns the meter's answer."""
        ctx = self.ctx
        what = order.value.replace("_", " ")
        meter, channel, driver = ctx.meter_that_can(meter_id, Capability.ADMIN, what)
        if confirm != meter.id:
            raise NotConfirmed(meter.id, order, confirm)
        ctx.security_for(meter)
        facts = ctx.order_facts(meter, reason)
        detail = f"address {meter.address}" + (f"; reason: {reason}" if reason else "")
        intent = ctx.audit.begin(ctx.clock.now(), user, meter.id, what, detail, data=facts)
        answer = await send_admin_order(
            ctx,
            ctx.workers[meter.channel],
            driver,
            meter,
            order,
            reply_timeout=channel.timeout,
            intent=intent,
            facts=facts,
            new_password=new_password,
        )
        if order is AdminOrder.CHANGE_PASSWORD and new_password and self.fleet is not None:
            await self.fleet.change(replace(meter, password=new_password), user)
        return answer
