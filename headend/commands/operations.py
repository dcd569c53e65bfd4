"""Operator operations on one meter: an on-demand read and relay control.

The HTTP API and MQTT requests call these. An on-demand read goes in the control lane, ahead
of scheduled work (MQTT requests pass the billing lane), and its answer is on disk before the
caller gets it. Relay control is audited (an fsync'd intent) before the order is even queued.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from headend.bus.lanes import Lane
from headend.collection.collector import HealthHandler, ReadFactory
from headend.collection.health import MeterHealth
from headend.commands.context import CommandContext
from headend.commands.relay_order import send_relay_order
from headend.config.fleet import ChannelConfig, MeterConfig
from headend.drivers.base import Capability
from headend.drivers.dlt645.control import RelayResult
from headend.errors import ReadFailed
from protocols.dlt645 import RelayAction
from storage.records import Reading

ReadFactoryOf = Callable[[ChannelConfig], ReadFactory]
"""The read actions of a channel's protocol (built by the engine)."""


def plan_quantities(ctx: CommandContext, meter: MeterConfig) -> list[str]:
    """Every quantity the meter's plan reads, each once, in plan order."""
    plan = ctx.config.plans[meter.plan]
    return list(dict.fromkeys(q for spec in plan.reads for q in spec.quantities))


class Operations:
    def __init__(
        self,
        ctx: CommandContext,
        *,
        read_factory: ReadFactoryOf,
        health: MeterHealth,
        on_health: HealthHandler,
    ) -> None:
        self.ctx = ctx
        self._read_factory = read_factory
        self._health = health
        self._on_health = on_health

    def plan_quantities(self, meter: MeterConfig) -> list[str]:
        return plan_quantities(self.ctx, meter)

    async def read_now(
        self,
        meter_id: str,
        quantities: Sequence[str] | None = None,
        *,
        lane: Lane = Lane.CONTROL,
    ) -> list[Reading]:
        """An operator's on-demand read: control lane, ahead of scheduled work (MQTT requests
        pass the billing lane)."""
        meter = self.ctx.registry.get(meter_id)
        wanted = tuple(quantities or self.plan_quantities(meter))
        self.ctx.registry.validate_quantities(meter, wanted, where=f"on-demand read of {meter.id}")
        return await self.read_meter(meter, wanted, lane)

    async def read_meter(
        self, meter: MeterConfig, wanted: Sequence[str], lane: Lane = Lane.CONTROL
    ) -> list[Reading]:
        """Read ``meter`` as configured here (which may not be the registry's version of it:
        the final read of a replaced meter goes to its old address)."""
        slot = self.ctx.clock.now()
        action = self._read_factory(self.ctx.config.channels[meter.channel])(meter, wanted, slot)
        worker = self.ctx.workers[meter.channel]
        try:
            readings: list[Reading] = await worker.call(lane, f"on-demand {meter.id}", action)
        except ReadFailed as exc:
            change = self._health.failure(meter.id, exc.reason.value, slot)
            if change is not None:
                await self._on_health(meter, change, exc.detail)
            raise
        change = self._health.success(meter.id)
        if change is not None:
            await self._on_health(meter, change, "answered an on-demand read")
        await self.ctx.live.publish(readings, durable=True)
        return readings

    async def relay(
        self, meter_id: str, action: RelayAction, user: str, reason: str = ""
    ) -> RelayResult:
        """Trip or close a meter's supply relay; audited whatever the outcome, with the
        operator's ``reason`` (unpaid, customer request, ...)."""
        ctx = self.ctx
        meter, channel, driver = ctx.meter_that_can(meter_id, Capability.RELAY, "relay control")
        ctx.security_for(meter)
        command = f"relay {action.name.lower()}"
        # Durable before the order is even queued: a crash after the trip still names the user.
        intent = ctx.audit.begin(
            ctx.clock.now(),
            user,
            meter.id,
            command,
            f"address {meter.address}" + (f"; reason: {reason}" if reason else ""),
            data=ctx.order_facts(meter, reason),
        )

        return await send_relay_order(
            ctx,
            ctx.workers[meter.channel],
            driver,
            meter,
            action,
            reply_timeout=channel.timeout,
            intent=intent,
            user=user,
            tags=meter.tags(),
        )
