"""Meter clocks: check one (and set it when it drifts), broadcast time sync, and their loops.

Setting a clock and broadcasting time change meters, so both are audited (an fsync'd intent)
before the frame goes out, like relay control. DL/T 645 only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from headend.bus.lanes import Lane
from headend.bus.link import BusLink
from headend.collection.health import MeterHealth
from headend.collection.schedule import next_slot
from headend.commands.audit import outcome_of_error
from headend.commands.context import CommandContext
from headend.config.fleet import ChannelConfig, MeterConfig
from headend.drivers.dlt645.control import broadcast_time, read_meter_clock, set_meter_clock
from headend.errors import BusClosed, ReadFailed
from storage.records import Reading, ReadingKind

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
        meter, channel = ctx.dlt645_meter(meter_id, "clock check")
        threshold = ctx.config.clock.drift_threshold

        async def run(link: BusLink) -> float:
            before = ctx.meter_now()
            shown = await read_meter_clock(link, meter, reply_timeout=channel.timeout)
            drift = (shown.replace(tzinfo=ctx.tz) - before).total_seconds()
            if abs(drift) > threshold:
                await self._set_clock(link, meter, channel, user, drift)
            return drift

        if lane is None:
            lane = Lane.CONTROL if user != "scheduler" else Lane.BILLING
        drift: float = await ctx.workers[meter.channel].call(lane, f"clock {meter.id}", run)
        reading = Reading(
            meter.id,
            "clock_drift",
            drift,
            "s",
            ctx.clock.now(),
            ReadingKind.STATE,
            tags=meter.tags(),
        )
        await ctx.live.publish([reading])
        return drift

    async def _set_clock(
        self, link: BusLink, meter: MeterConfig, channel: ChannelConfig, user: str, drift: float
    ) -> None:
        """Set a drifting clock, audited before the write goes out and after it is answered."""
        ctx = self.ctx
        intent = ctx.audit.begin(
            ctx.clock.now(), user, meter.id, "clock set", f"drift was {drift:+.0f} s"
        )
        try:
            await set_meter_clock(link, meter, ctx.meter_now(), reply_timeout=channel.timeout)
        except BaseException as exc:
            outcome, detail = outcome_of_error(exc, sent=True)
            ctx.audit.complete(intent, outcome, detail, at=ctx.clock.now())
            raise
        ctx.audit.complete(intent, "ok", f"drift was {drift:+.0f} s", at=ctx.clock.now())

    async def broadcast_time_sync(self, user: str = "scheduler") -> int:
        """Broadcast time sync on every DL/T 645 channel; returns how many buses got it.

        It sets every clock on the bus, so it is audited like any command that changes a
        meter: meter ``*``, the channel named in the detail."""
        ctx = self.ctx
        sent = 0
        for name, channel in ctx.config.channels.items():
            if not channel.protocol.startswith("dlt645"):
                continue
            command = "broadcast time sync"
            intent = ctx.audit.begin(ctx.clock.now(), user, "*", command, f"channel {name}")

            times: list[datetime] = []

            async def run(link: BusLink, times: list[datetime] = times) -> None:
                times.append(ctx.meter_now())
                await broadcast_time(link, times[-1])

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
        """Read every online DL/T 645 meter's clock once per ``check_interval``, the buses in
        parallel; a drifting meter gets its clock set (``check_clock``)."""
        interval = self.ctx.config.clock.check_interval
        while True:
            await self.ctx.clock.sleep_until(next_slot(self.ctx.clock.now(), interval))
            by_channel: dict[str, list[str]] = {}
            for meter in self.ctx.registry:
                if meter.protocol.startswith("dlt645") and not self._health.is_offline(meter.id):
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
