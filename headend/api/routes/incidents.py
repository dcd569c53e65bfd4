"""Incidents: the list (filtered, searched, paged), one with its history, and the operator's
acknowledgement, which is audited before it acts and answered once it is on disk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.incident_models import (
    AcknowledgeIn,
    IncidentDetailOut,
    IncidentListOut,
    IncidentOut,
    IncidentStateFilter,
)
from headend.api.problems import InvalidField
from headend.incidents.errors import IncidentCleared, IncidentStoreError, UnknownIncident
from headend.incidents.store import IncidentQuery

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def incidents_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api/incidents", tags=["incidents"])

    @router.get("", response_model=IncidentListOut, dependencies=[ctx.reader])
    async def incidents(
        state: IncidentStateFilter = "all",
        transformer: str | None = None,
        building: str | None = None,
        kind: str | None = None,
        q: Annotated[str | None, Query(description="In the subject, kind or a meter id")] = None,
        since: Annotated[datetime | None, Query(description="Active at or after")] = None,
        until: Annotated[datetime | None, Query(description="Opened at or before")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> IncidentListOut:
        """Worst first (critical > major > minor > info), then the most recent activity."""
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise InvalidField(("query", name), f"{name}: needs a UTC offset")
        query = IncidentQuery(state, transformer, building, kind, q, since, until, limit, offset)
        total, found = headend.search_incidents(query)
        return IncidentListOut(total=total, incidents=[IncidentOut.of(i) for i in found])

    @router.get("/{incident_id}", response_model=IncidentDetailOut, dependencies=[ctx.reader])
    async def incident(incident_id: str) -> IncidentDetailOut:
        try:
            return IncidentDetailOut.of(headend.incident(incident_id))
        except UnknownIncident as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None

    @router.post("/{incident_id}/ack", response_model=IncidentOut)
    async def acknowledge(
        incident_id: str, request: AcknowledgeIn | None = None, caller: Caller = ctx.operator
    ) -> IncidentOut:
        """Takes the incident in hand (it stays until its alarms close); 409 once cleared."""
        note = request.note if request else ""
        try:
            return IncidentOut.of(headend.acknowledge_incident(incident_id, caller.name, note))
        except UnknownIncident as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        except IncidentCleared as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        except IncidentStoreError as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None

    return router
