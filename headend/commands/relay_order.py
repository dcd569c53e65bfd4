"""Sending one relay order whose intent is already audited, on whatever bus carries it.

A bus meter's order goes out on its channel's worker, a concentrator meter's on its terminal
port's (AFN 10 forwarding); from the queued order on, what has to happen is the same and is
kept here once: count whether the order left (a failure before it did is ``failed``, after it
``unknown``: the meter may have acted), complete the audit entry whatever the outcome, and tell
the operator's event stream what the relay reads now.
"""

from __future__ import annotations

from typing import Any

from headend.bus.lanes import Lane
from headend.bus.worker import BusWorker
from headend.commands.audit import AuditEntry, outcome_of_error
from headend.commands.context import CommandContext
from headend.drivers.base import Driver
from headend.drivers.dlt645.control import RelayResult
from headend.drivers.settings import MeterSettings
from protocols.dlt645 import RelayAction
from storage.records import Severity


async def send_relay_order(
    ctx: CommandContext,
    worker: BusWorker[Any],
    driver: Driver[Any],
    meter: MeterSettings,
    action: RelayAction,
    *,
    reply_timeout: float,
    intent: AuditEntry,
    user: str,
    tags: dict[str, str],
    via: str = "",
) -> RelayResult:
    """Queue the order on ``worker``'s control lane and complete ``intent`` with its outcome;
    ``via`` (``" through terminal jzq-T1"``) goes into the event's text."""
    command = f"relay {action.name.lower()}"
    attempts = 0

    async def run(link: Any) -> RelayResult:
        nonlocal attempts
        attempts += 1  # the line is open and ours: the order goes out now
        return await driver.control_relay(
            link, meter, action, ctx.meter_now(), reply_timeout=reply_timeout, security=ctx.security
        )

    try:
        result: RelayResult = await worker.call(Lane.CONTROL, f"{command} {meter.id}", run)
    except BaseException as exc:  # the order may have reached the meter: still audited
        outcome, detail = outcome_of_error(exc, sent=attempts > 0)
        ctx.audit.complete(intent, outcome, detail, at=ctx.clock.now(), data=intent.data)
        raise
    outcome, detail = relay_outcome(result)
    ctx.audit.complete(intent, outcome, detail, at=ctx.clock.now(), data=intent.data)
    record = ctx.alarms.meter_event(
        meter.id,
        "relay_" + action.name.lower(),
        active=False,
        at=ctx.clock.now(),
        detail=f"{user}: {command}{via}: relay {result.state.value} ({outcome})",
        severity=Severity.INFO if result.verified else Severity.WARNING,
        tags=tags,
    )
    ctx.live.record_events([record])
    return result


def relay_outcome(result: RelayResult) -> tuple[str, str]:
    """The audit outcome and detail of an answered relay order: verified by the read-back
    (``ok``) or acknowledged only (``unverified``)."""
    outcome = "ok" if result.verified else "unverified"
    detail = f"relay reads {result.state.value}"
    if result.read_back_error:
        detail += f" (acknowledged; read-back failed: {result.read_back_error})"
    return outcome, detail
