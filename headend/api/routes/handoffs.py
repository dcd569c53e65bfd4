"""``GET /api/exports/handoffs``: the daily hand-offs made, where each went and in what state.

Read from the hand-off ledger (``<data-dir>/handoffs.sqlite``), so it shows what survived a
restart too: per day and sequence (0 the daily one, 1.. its corrections) the rows handed off,
the files, and per destination (folder, webhook) ``pending`` or ``delivered`` with the attempts
and the last error. 503 when the fleet file has no ``[handoff]`` table.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from headend.api.context import ApiContext
from storage.errors import HandoffLedgerError
from storage.handoff.ledger import Handoff

DayBound = Annotated[date | None, Query(description="Billing day (local date of the freeze)")]


class DeliveryOut(BaseModel):
    destination: str
    state: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class HandoffOut(BaseModel):
    day: date
    sequence: int
    kind: str
    rows: int
    after: int
    upto: int
    """The change-log entries it covers: ``after < seq <= upto``."""
    files: list[str]
    made_at: datetime
    deliveries: list[DeliveryOut]

    @classmethod
    def of(cls, handoff: Handoff) -> HandoffOut:
        return cls(
            day=handoff.day,
            sequence=handoff.sequence,
            kind=handoff.kind.value,
            rows=handoff.rows,
            after=handoff.after,
            upto=handoff.upto,
            files=list(handoff.files),
            made_at=handoff.made_at,
            deliveries=[
                DeliveryOut(
                    destination=d.destination.value,
                    state=d.state.value,
                    attempts=d.attempts,
                    last_error=d.last_error,
                    delivered_at=d.delivered_at,
                )
                for d in handoff.deliveries
            ],
        )


class HandoffsOut(BaseModel):
    folder: str
    next_run: datetime | None
    passes: int
    """Passes since start (each hands off what is due and looks for corrections)."""
    handoffs: list[HandoffOut]


def handoffs_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api/exports", route_class=ctx.reader_routes, tags=["exports"])

    @router.get("/handoffs", response_model=HandoffsOut)
    async def handoffs(start: DayBound = None, end: DayBound = None) -> HandoffsOut:
        handoff = headend.handoff
        if handoff is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="no daily hand-off: the fleet file has no [handoff] table",
            )
        try:
            made = await asyncio.to_thread(handoff.handoffs, start, end)
        except HandoffLedgerError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
        return HandoffsOut(
            folder=str(handoff.folder),
            next_run=handoff.stats.next_run,
            passes=handoff.stats.passes,
            handoffs=[HandoffOut.of(h) for h in made],
        )

    return router
