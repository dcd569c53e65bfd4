"""What every route needs: the head-end's facade, the stores, and the token book's role checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, HTTPException, status
from fastapi.routing import APIRoute

from headend.api.auth import Role, TokenBook, requires, role_checked_route
from headend.api.facade import HeadendFacade
from storage.billing import BillingSource
from storage.outbox import OutboxStats


@dataclass(slots=True)
class ApiContext:
    headend: HeadendFacade
    """The only way into the running engine (``headend.api.facade``)."""
    tokens: TokenBook
    store: BillingSource | None = None
    """History and billing queries; None when the head-end runs without a queryable store."""
    outbox_stats: Callable[[], OutboxStats] | None = None
    reader: Any = field(init=False)
    operator: Any = field(init=False)
    admin: Any = field(init=False)
    stream_reader: Any = field(init=False)
    reader_routes: type[APIRoute] = field(init=False)
    """``APIRouter(route_class=...)`` of the read routers: the reader check without a
    dependency to solve per request."""

    def __post_init__(self) -> None:
        self.reader = Depends(requires(self.tokens, Role.READER))
        self.operator = Depends(requires(self.tokens, Role.OPERATOR))
        self.admin = Depends(requires(self.tokens, Role.ADMIN))
        self.stream_reader = Depends(requires(self.tokens, Role.READER, allow_query=True))
        self.reader_routes = role_checked_route(self.tokens, Role.READER)

    def require_store(self) -> BillingSource:
        if self.store is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="no queryable store configured: history and billing are unavailable",
            )
        return self.store
