"""One meter's clock check on whatever bus carries it: read the clock, set it when it drifts.

A bus meter is checked on its channel's worker, a concentrator meter on its terminal port's
(AFN 10 forwarding); what happens on the line is the same and is kept here once. Setting a
clock changes the meter, so it is audited (an fsync'd intent) before the write goes out, and
completed whatever the outcome. The drift (meter minus head-end) is also stored as a reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headend.bus.lanes import Lane
from headend.bus.worker import BusWorker
from headend.commands.audit import outcome_of_error
from headend.commands.context import CommandContext
from headend.drivers.base import Driver
from headend.drivers.settings import MeterSettings
from storage.records import Reading, ReadingKind


async def check_meter_clock(
    ctx: CommandContext,
    worker: BusWorker[Any],
    driver: Driver[Any],
    meter: MeterSettings,
    *,
    reply_timeout: float,
    user: str,
    lane: Lane,
    facts: Mapping[str, Any] | None = None,
) -> float:
    """The drift in seconds the meter showed; over ``[clock] drift_threshold`` its clock is set
    in the same turn on the line. ``facts`` go into the audit of a set (terminal and pn)."""
    threshold = ctx.config.clock.drift_threshold

    async def run(link: Any) -> float:
        before = ctx.meter_now()
        shown = await driver.read_clock(link, meter, reply_timeout=reply_timeout)
        drift = (shown.replace(tzinfo=ctx.tz) - before).total_seconds()
        if abs(drift) > threshold:
            await _set_clock(ctx, driver, link, meter, reply_timeout, user, drift, facts)
        return drift

    drift: float = await worker.call(lane, f"clock {meter.id}", run)
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
    ctx: CommandContext,
    driver: Driver[Any],
    link: Any,
    meter: MeterSettings,
    reply_timeout: float,
    user: str,
    drift: float,
    facts: Mapping[str, Any] | None,
) -> None:
    """Set a drifting clock, audited before the write goes out and after it is answered."""
    detail = f"drift was {drift:+.0f} s"
    intent = ctx.audit.begin(ctx.clock.now(), user, meter.id, "clock set", detail, data=facts)
    try:
        await driver.set_clock(link, meter, ctx.meter_now(), reply_timeout=reply_timeout)
    except BaseException as exc:
        outcome, why = outcome_of_error(exc, sent=True)
        ctx.audit.complete(intent, outcome, why, at=ctx.clock.now(), data=facts)
        raise
    ctx.audit.complete(intent, "ok", detail, at=ctx.clock.now(), data=facts)
