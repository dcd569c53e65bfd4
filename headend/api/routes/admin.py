"""Admin routes: fleet changes (add, replace, remove meters) while collection runs.

The registry validates a change against the configuration and the collectors pick it up at
once; its error names the offending key (``RegistryError.key``), which becomes the ``loc`` of
the 422. A change is kept in the data dir before the answer (``fleet_overlay.py``), so a restart
does not undo it; a new address for a meter, or ``replaces``, is a meter replacement, audited
with the final read of the old meter and the first of the new.
"""

from __future__ import annotations

from fastapi import APIRouter

from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.models import MeterIn, MeterSummary
from headend.api.problems import InvalidField
from headend.api.routes.fleet import meter_summary
from headend.collection.registry import RegistryError


def admin_router(ctx: ApiContext) -> APIRouter:
    """Fleet changes: adding, replacing and removing meters while collection runs."""
    headend = ctx.headend
    router = APIRouter(prefix="/api", tags=["admin"])

    @router.post("/meters", response_model=MeterSummary, status_code=201)
    async def add_meter(meter: MeterIn, caller: Caller = ctx.admin) -> dict[str, object]:
        config = meter.to_config(_protocol_of(ctx, meter))
        try:
            await headend.change_meter(config, caller.name, meter.replaces)
        except RegistryError as exc:
            field = exc.key if exc.key in MeterIn.model_fields else "meter"
            raise InvalidField(("body", field), str(exc)) from None
        return meter_summary(headend, config)

    @router.delete("/meters/{meter_id}", status_code=204)
    async def remove_meter(meter_id: str, caller: Caller = ctx.admin) -> None:
        await headend.remove_meter(meter_id, caller.name)

    return router


def _protocol_of(ctx: ApiContext, meter: MeterIn) -> str:
    """The meter's protocol (its channel's unless given), with the keys that protocol needs."""
    channel = ctx.headend.channels.get(meter.channel)
    if channel is None:
        known = ", ".join(sorted(ctx.headend.channels))
        raise InvalidField(
            ("body", "channel"), f"meter {meter.id}: unknown channel {meter.channel!r} ({known})"
        )
    protocol = meter.protocol or channel.protocol
    if protocol.startswith("dlt645"):
        if meter.address is None:
            raise InvalidField(("body", "address"), f"meter {meter.id}: {protocol} needs address")
    else:
        for key in ("unit_id", "register_map"):
            if getattr(meter, key) is None:
                raise InvalidField(("body", key), f"meter {meter.id}: modbus needs {key}")
    return protocol
