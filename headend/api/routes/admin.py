"""Admin routes: fleet changes (add, replace, remove meters) while collection runs.

The registry validates a change against the configuration and the collectors pick it up at
once; the error's ``key`` names the offending field, which becomes the ``loc`` of the 422. A
change is kept in the data dir before the answer (``fleet_overlay.py``), so a restart does not
undo it; a new address for a meter, or ``replaces``, is a meter replacement, audited with the
final read of the old meter and the first of the new.
"""

from __future__ import annotations

from fastapi import APIRouter

from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.models import MeterIn, MeterSummary
from headend.api.problems import InvalidField
from headend.api.routes.fleet import meter_summary
from headend.config.meters import RegistryError
from headend.drivers.registry import driver_for


def admin_router(ctx: ApiContext) -> APIRouter:
    """Fleet changes: adding, replacing and removing meters while collection runs."""
    headend = ctx.headend
    router = APIRouter(prefix="/api", tags=["admin"])

    @router.post("/meters", response_model=MeterSummary, status_code=201)
    async def add_meter(meter: MeterIn, caller: Caller = ctx.admin) -> dict[str, object]:
        behind = headend.terminal_meter(meter.id)
        if behind is not None:  # one id, one meter: billing must not mix two meters' values
            raise InvalidField(
                ("body", "id"), f"meter {meter.id!r} is read by terminal {behind.terminal!r}"
            )
        config = meter.to_config(_protocol_of(ctx, meter))
        try:
            await headend.change_meter(config, caller.name, meter.replaces)
        except RegistryError as exc:
            raise InvalidField(("body", _field_of(exc)), str(exc)) from None
        return meter_summary(headend, config)

    @router.delete("/meters/{meter_id}", status_code=204)
    async def remove_meter(meter_id: str, caller: Caller = ctx.admin) -> None:
        await headend.remove_meter(meter_id, caller.name)

    return router


def _field_of(error: RegistryError) -> str:
    """The MeterIn field a registry error is about; the meter as a whole if it is not one."""
    return error.key if error.key in MeterIn.model_fields else "meter"


def _protocol_of(ctx: ApiContext, meter: MeterIn) -> str:
    """The meter's protocol (its channel's unless given), with the keys that protocol needs."""
    channel = ctx.headend.channels.get(meter.channel)
    if channel is None:
        known = ", ".join(sorted(ctx.headend.channels))
        raise InvalidField(
            ("body", "channel"), f"meter {meter.id}: unknown channel {meter.channel!r} ({known})"
        )
    protocol = meter.protocol or channel.protocol
    for key in driver_for(protocol).meter_keys:
        if getattr(meter, key) is None:
            raise InvalidField(("body", key), f"meter {meter.id}: {protocol} needs {key}")
    return protocol
