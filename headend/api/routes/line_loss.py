"""``/api/area/line-loss``: the daily line loss (台区线损) of one transformer or of all.

The figure is ``storage.area`` (sans-IO); ``api.line_loss_assembly`` gathers its inputs from
the store and the archive. This module checks the request (404 for a transformer neither the
fleet nor the archive knows, 422 for a day that is not YYYY-MM-DD or has not ended yet, 409
for an archive it cannot use, such as exchanges forming a loop) and shapes the answer
(``api.line_loss_models``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from headend.api.context import ApiContext
from headend.api.line_loss_assembly import (
    HISTORY_DAYS,
    FleetMember,
    losses_of,
    transformers_known,
)
from headend.api.line_loss_models import LineLossesOut, LineLossOut
from headend.api.problems import InvalidField
from headend.api.routes.billing import store_errors
from headend.api.vee_assembly import archive_view
from headend.config.fleet import TRANSFORMER_LV_METER, MeterConfig
from storage.errors import ArchiveError

DayQuery = Annotated[date, Query(description="Local day (YYYY-MM-DD), from 00:00 to 24:00")]
TransformerQuery = Annotated[
    str | None, Query(description="Transformer id; default: every transformer")
]


@contextmanager
def archive_conflicts() -> Iterator[None]:
    """An archive the figure cannot be made from (exchanges forming a loop, a file of a newer
    head-end) is 409, naming it; entered inside ``store_errors``, which would answer 502 (an
    ``ArchiveError`` is a ``StorageError``)."""
    try:
        yield
    except ArchiveError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"archive: {exc}") from exc


def fleet_member(meter: MeterConfig) -> FleetMember:
    """A bus meter; a Modbus meter's driver stores primary values (its CT x PT applied)."""
    scale = meter.ct_ratio * meter.pt_ratio if meter.register_map is not None else 1.0
    return FleetMember(meter.id, meter.transformer, meter.kind == TRANSFORMER_LV_METER, scale)


def line_loss_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api/area", route_class=ctx.reader_routes, tags=["area"])

    def fleet() -> list[FleetMember]:
        members = [fleet_member(m) for m in headend.meters()]
        members += [
            FleetMember(m.id, m.transformer, supply=False)
            for m in headend.terminal_meters().values()
        ]
        return members

    @router.get("/line-loss", response_model=LineLossesOut)
    async def line_loss(day: DayQuery, transformer: TransformerQuery = None) -> LineLossesOut:
        """Per transformer and local day: supplied (its LV-side meter), customers, loss and
        loss rate, completeness, quality, an anomaly flag and the meters likely behind it."""
        today = headend.now().astimezone(headend.tz).date()
        if day >= today:
            raise InvalidField(("query", "day"), f"day {day} has not ended yet (today is {today})")
        source = ctx.require_store()
        first = day - timedelta(days=HISTORY_DAYS)  # the customers' typical days
        with store_errors(), archive_conflicts():
            view = await archive_view(headend.archive_path, first, day + timedelta(days=1))
        members = fleet()
        known = transformers_known(view, members) | set(headend.transformers)
        if transformer is not None and transformer not in known:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, detail=f"unknown transformer {transformer!r}"
            )
        chosen = [transformer] if transformer is not None else sorted(known)
        limits = headend.line_loss_limits
        with store_errors(), archive_conflicts():
            found = await losses_of(source, view, members, chosen, day, headend.tz, limits)
        return LineLossesOut(
            day=day, line_loss=[LineLossOut.of(f, limits.threshold_percent) for f in found]
        )

    return router
