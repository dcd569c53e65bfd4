"""Sending one administrative order whose intent is already audited, on whatever bus carries it.

A bus meter's order goes out on its channel's worker, a concentrator meter's on its terminal
port's (AFN 10 forwarding); from the queued order on, what has to happen is the same and is
kept here once: count whether the order left (a failure before it did is ``failed``, after it
``unknown``: the meter may have cleared), and complete the audit entry whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headend.bus.lanes import Lane
from headend.bus.worker import BusWorker
from headend.commands.audit import AuditEntry, outcome_of_error
from headend.commands.context import CommandContext
from headend.drivers.base import Driver
from headend.drivers.dlt645.admin import AdminOrder
from headend.drivers.settings import MeterSettings


async def send_admin_order(
    ctx: CommandContext,
    worker: BusWorker[Any],
    driver: Driver[Any],
    meter: MeterSettings,
    order: AdminOrder,
    *,
    reply_timeout: float,
    intent: AuditEntry,
    facts: Mapping[str, Any],
    new_password: str | None = None,
) -> str:
    """Queue ``order`` on ``worker``'s control lane and complete ``intent``; returns the
    meter's answer."""
    what = order.value.replace("_", " ")
    attempts = 0

    async def send(link: Any) -> str:
        nonlocal attempts
        attempts += 1  # the line is open and ours: the order goes out now
        return await driver.admin_order(
            link,
            meter,
            order,
            ctx.meter_now(),
            reply_timeout=reply_timeout,
            security=ctx.security,
            new_password=new_password,
        )

    try:
        answer: str = await worker.call(Lane.CONTROL, f"{what} {meter.id}", send)
    except BaseException as exc:  # the order may have reached the meter: still audited
        outcome, failure = outcome_of_error(exc, sent=attempts > 0)
        ctx.audit.complete(intent, outcome, failure, at=ctx.clock.now(), data=facts)
        raise
    ctx.audit.complete(intent, "ok", answer, at=ctx.clock.now(), data=facts)
    return answer
