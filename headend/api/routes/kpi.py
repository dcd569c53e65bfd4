"""``/api/kpi/collection``: the daily collection KPIs (日采集成功率) by terminal, channel,
transformer, building or meter, kept across restarts.

The meter-days come from the stored frozen values (``headend.collection.kpi``) and are merged
into ``<data-dir>/kpi.sqlite`` (``storage.kpi.store``) before they are summed, so a day's
figures survive restarts, fleet changes and store pruning, and only ever improve as backfill
recovers values (docs/exports.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from headend.api.archive_view import archive_meters
from headend.api.context import ApiContext
from headend.api.problems import InvalidField
from headend.api.routes.billing import store_errors
from headend.collection.kpi import due_meters, meter_days
from storage.errors import KpiStoreError
from storage.kpi.outcomes import KpiRow, MeterDay, rollup, total
from storage.kpi.store import KPI_FILE, KpiStore

KpiDimension = Literal["terminal", "channel", "transformer", "building", "meter"]
DayQuery = Annotated[
    date | None,
    Query(description="Local day of the freeze (billing's day); default: today"),
]


class KpiRowOut(BaseModel):
    group: str
    day: date
    due: int
    first_attempt: int
    backfilled: int
    missing: int
    success_rate: float
    """(first_attempt + backfilled) / due: the daily collection success rate."""
    first_attempt_rate: float
    backfill_rate: float
    """backfilled / (due - first_attempt): what re-reads recovered of what the first missed."""

    @classmethod
    def of(cls, row: KpiRow) -> KpiRowOut:
        return cls(
            group=row.group,
            day=row.day,
            due=row.due,
            first_attempt=row.first_attempt,
            backfilled=row.backfilled,
            missing=row.missing,
            success_rate=row.success_rate,
            first_attempt_rate=row.first_attempt_rate,
            backfill_rate=row.backfill_rate,
        )


class CollectionKpiOut(BaseModel):
    day: date
    by: str
    total: KpiRowOut
    rows: list[KpiRowOut]


def _kept(path: Path, day: date, computed: Sequence[MeterDay]) -> list[MeterDay]:
    with KpiStore.open(path) as store:
        return store.merge(day, computed)


def kpi_router(ctx: ApiContext, data_dir: Path | None) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api/kpi", route_class=ctx.reader_routes, tags=["kpi"])

    @router.get("/collection", response_model=CollectionKpiOut)
    async def collection(day: DayQuery = None, by: KpiDimension = "terminal") -> CollectionKpiOut:
        today = headend.now().astimezone(headend.tz).date()
        wanted = day or today
        if wanted > today:
            raise InvalidField(("query", "day"), f"day {wanted} is after today ({today})")
        store = ctx.require_store()
        archive = await archive_meters(data_dir)
        due = due_meters(headend.daily_frozen_meters(), headend.terminals, archive, wanted)
        with store_errors():
            computed = await meter_days(store, due, wanted, headend.tz)
        merged: Sequence[MeterDay] = computed
        if data_dir is not None:
            try:
                merged = await asyncio.to_thread(_kept, data_dir / KPI_FILE, wanted, computed)
            except KpiStoreError as exc:
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
        return CollectionKpiOut(
            day=wanted,
            by=by,
            total=KpiRowOut.of(total(merged, wanted)),
            rows=[KpiRowOut.of(row) for row in rollup(merged, by)],
        )

    return router
