"""Meter clocks: check one (and set it when it drifts), broadcast time sync, and their loops.

Setting a clock and broadcasting time change meters, so both are audited (an fsync'd intent)
before the frame goes out, like relay control. Only for meters whose driver has the clock
capabilities (DL/T 645 today).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from headend.bus.lanes import Lane
from headend.collection.health import MeterHealth
from headend.collection.schedule import next_slot
from headend.commands.audit import outcome_of_error
from headend.commands.clock_check import check_meter_clock
from headend.commands.context import CommandContext
from headend.drivers.base import Capability, Driver
from headend.drivers.registry import driver_for
from headend.errors import BusClosed, ReadFailed

log = logging.getLogger(__name__)


class ClockCommands:
    def __init__(self, ctx: CommandContext, *, health: MeterHealth) -> None:
        self.ctx = ctx
        self._health = health

    async def check_clock(
        self, meter_id: str, *, user: str = "scheduler", lane: Lane | None = None
    ) -> float:
        """Read a meter's clock; set it when the drift exceeds the configured threshold.

        Returns the drift in seconds (meter minus head-end), also stored as a reading.
        """
        ctx = self.ctx
        meter, channel, driver = ctx.meter_that_can(meter_id, Capability.CLOCK, "clock check")
        if lane is None:
            lane = Lane.CONTROL if user != "scheduler" else Lane.BILLING
        return await check_meter_clock(
            ctx,
            ctx.workers[meter.channel],
            driver,
            meter,
            reply_timeout=channel.timeout,
            user=user,
            lane=lane,
        )

    async def broadcast_time_sync(self, user: str = "scheduler") -> int:
        """Broadcast time sync on every channel whose protocol can; returns how many buses got it.

        It sets every clock on the bus, so it is audited like any command that changes a
        meter: meter ``*``, the channel named in the detail."""
        ctx = self.ctx
        sent = 0
        for name, channel in ctx.config.channels.items():
            driver = driver_for(channel.protocol)
            if not driver.supports(Capability.TIME_BROADCAST):
                continue
            command = "broadcast time sync"
            intent = ctx.audit.begin(ctx.clock.now(), user, "*", command, f"channel {name}")

            times: list[datetime] = []

            async def run(
                link: Any, times: list[datetime] = times, driver: Driver[Any] = driver
            ) -> None:
                times.append(ctx.meter_now())
                await driver.broadcast_time(link, times[-1])

            try:
                await ctx.workers[name].call(Lane.BILLING, "broadcast time", run)
            except BaseException as exc:
                outcome, detail = outcome_of_error(exc, sent=bool(times))
                ctx.audit.complete(intent, outcome, detail, at=ctx.clock.now())
                if not isinstance(exc, ReadFailed):
                    raise
                log.warning("channel %s: broadcast time sync failed: %s", name, exc)
                continue
            detail = f"channel {name}: sent {times[-1].isoformat(timespec='seconds')}"
            ctx.audit.complete(intent, "ok", detail, at=ctx.clock.now())
            sent += 1
        return sent

    async def broadcast_loop(self) -> None:
        """Broadcast time sync once per ``broadcast_interval`` at interval boundaries (not at
        start: a restart must not put a fleet's clock work in front of the first telemetry)."""
        interval = self.ctx.config.clock.broadcast_interval
        while True:
            await self.ctx.clock.sleep_until(next_slot(self.ctx.clock.now(), interval))
            await self.broadcast_time_sync()

    async def check_loop(self) -> None:
        """Read the clock of every online meter whose driver can, once per ``check_interval``,
        the buses in parallel; a drifting meter gets its clock set (``check_clock``)."""
        interval = self.ctx.config.clock.check_interval
        while True:
            await self.ctx.clock.sleep_until(next_slot(self.ctx.clock.now(), interval))
            by_channel: dict[str, list[str]] = {}
            for meter in self.ctx.registry:
                can = driver_for(meter.protocol).supports(Capability.CLOCK)
                if can and not self._health.is_offline(meter.id):
                    by_channel.setdefault(meter.channel, []).append(meter.id)
            async with asyncio.TaskGroup() as group:
                for meter_ids in by_channel.values():
                    group.create_task(self._check_clocks(meter_ids))

    async def _check_clocks(self, meter_ids: list[str]) -> None:
        for meter_id in meter_ids:
            if meter_id not in self.ctx.registry:
                continue  # removed while the pass ran
            try:
                await self.check_clock(meter_id)
            except ReadFailed as exc:
                log.info("meter %s: clock check failed: %s", meter_id, exc.detail)
            except BusClosed:
                return
            except Exception:
                log.exception("meter %s: clock check crashed", meter_id)
