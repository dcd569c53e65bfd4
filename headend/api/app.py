"""``create_app``: the head-end's HTTP API, Prometheus metrics and live dashboard on one app.

The app only borrows the engine: it starts nothing and stops nothing, so ``headend run`` can
serve it with uvicorn inside the same TaskGroup as ``Engine.run`` and shut both down in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp

from headend.api.archive_refusals import ArchiveRefusals
from headend.api.auth import ApiToken, TokenBook, declare_security
from headend.api.context import ApiContext
from headend.api.docs_ui import install_docs
from headend.api.facade import HeadendFacade
from headend.api.handoff_metrics import handoff_families
from headend.api.incident_metrics import incident_families
from headend.api.limits import (
    DEFAULT_LIMITS,
    ApiLimits,
    BodyLimitReport,
    SlotStreamingResponse,
    StreamSlots,
    refusal_families,
)
from headend.api.metrics import CONTENT_TYPE, ScrapeCollector, metrics_registry
from headend.api.models import Health
from headend.api.problems import install_problem_handlers
from headend.api.routes.admin import admin_router
from headend.api.routes.archive import archive_router, wider_limits
from headend.api.routes.billing import billing_router
from headend.api.routes.control import control_router
from headend.api.routes.exports import exports_router
from headend.api.routes.fleet import fleet_router
from headend.api.routes.handoffs import handoffs_router
from headend.api.routes.incidents import incidents_router
from headend.api.routes.kpi import kpi_router
from headend.api.routes.line_loss import line_loss_router
from headend.api.routes.terminals import terminals_router
from headend.api.routes.vee import vee_routers
from headend.api.security import SecurityHeaders
from headend.api.stream import live_events
from headend.engine import Engine
from storage.billing import BillingSource
from storage.outbox import OutboxStats

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "dashboard"

TITLE = "Head-end API"
DESCRIPTION = """\
Meters, live and stored readings, billing reads (JSON/CSV), collection completeness, alarms,
and operator control of a smart-meter head-end.

Authenticate with `Authorization: Bearer <token>`. Roles are ordered
`reader` < `operator` < `admin`: billing systems read, the control room operates relays,
clocks and alarms, admins change the fleet. `/health` and `/metrics` need no token.
"""


class _HeadendApp(FastAPI):
    """FastAPI with two layers outside all of its own middleware: the body-limit report (it
    refuses by ``Content-Length`` before anything runs, and sees the 413s FastAPI's limiter
    sends), and outermost the security headers (also on those 413s and on 500s)."""

    body_report: BodyLimitReport
    _secured: dict[str, Any] | None = None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, plus the token schemes on the routes that check tokens
        (``headend.api.auth.declare_security``), added once per document FastAPI builds."""
        document = super().openapi()
        if document is not self._secured:
            declare_security(document, self.routes)
            self._secured = document
        return document

    def build_middleware_stack(self) -> ASGIApp:
        self.body_report.app = super().build_middleware_stack()
        return SecurityHeaders(self.body_report)


def create_app(
    engine: Engine,
    *,
    tokens: Iterable[ApiToken],
    store: BillingSource | None = None,
    outbox_stats: Callable[[], OutboxStats] | None = None,
    dashboard_dir: Path | None = DASHBOARD_DIR,
    limits: ApiLimits = DEFAULT_LIMITS,
    data_dir: Path | None = None,
) -> FastAPI:
    """The API over a (running) engine.

        ``store`` answers history and billing queries (``SqliteStore`` or
        ``InfluxQLBillingSource``); without it those routes answer 503. ``outbox_stats`` (e.g.
        ``outbox.stats``) adds the outbox gauges to ``/metrics``. ``dashboard_dir=None`` serves the
        API only. ``limits`` bounds request bodies and concurrent live streams (``[api]``).
    ``data_dir`` holds the archive and the KPI file (``kpi.sqlite``); None: KPIs are not kept.
    """
    headend = HeadendFacade(engine)
    ctx = ApiContext(headend, TokenBook(tokens), store, outbox_stats)
    app = _HeadendApp(
        title=TITLE,
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        max_body_size=limits.max_body_bytes,
    )
    # Its inner app is FastAPI's middleware stack, set when FastAPI builds that stack.
    body_report = app.body_report = BodyLimitReport(
        app.router, limits.max_body_bytes, wider_limits(limits.max_archive_bytes)
    )
    archive_refusals = ArchiveRefusals()
    install_problem_handlers(app)
    install_docs(app, title=TITLE)
    stream_slots = StreamSlots(limits.max_stream_clients)
    app.state.stream_slots = stream_slots
    # This app's own registry: the engine's counters and the API's refusals, read when scraped.
    registry = metrics_registry(
        headend,
        outbox_stats,
        lambda: refusal_families(body_report, stream_slots) + archive_refusals.families(),
        lambda: incident_families(headend),
    )
    app.state.metrics_registry = registry
    registry.register(ScrapeCollector(lambda: handoff_families(headend)))

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        return Health(
            collecting=headend.collecting(),
            meters=headend.meter_count(),
            site=headend.site,
            timezone=headend.timezone,
        )

    @app.get(
        "/metrics",
        response_class=Response,
        tags=["service"],
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    @app.get(
        "/api/stream",
        tags=["fleet"],
        response_class=StreamingResponse,
        dependencies=[ctx.stream_reader],
        responses={
            200: {"content": {"text/event-stream": {}}},
            503: {"description": "Too many viewers (`max_stream_clients`); see `Retry-After`"},
        },
        description="Server-sent events: `reading`, `fleet`, `alarms` and `incidents`. "
        "Browsers' EventSource cannot send headers, so this route also accepts "
        "`?access_token=<token>`.",
    )
    async def stream() -> StreamingResponse:
        stream_slots.take()
        return SlotStreamingResponse(
            live_events(headend),
            slots=stream_slots,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    app.include_router(fleet_router(ctx))
    app.include_router(billing_router(ctx))
    app.include_router(control_router(ctx))
    app.include_router(admin_router(ctx))
    app.include_router(archive_router(ctx, archive_refusals, limits.max_archive_bytes))
    app.include_router(terminals_router(ctx))
    app.include_router(kpi_router(ctx, data_dir))
    app.include_router(line_loss_router(ctx))
    app.include_router(incidents_router(ctx))
    app.include_router(exports_router(ctx, data_dir))
    app.include_router(handoffs_router(ctx))
    for router in vee_routers(ctx):
        app.include_router(router)

    if dashboard_dir is not None:
        index = dashboard_dir / "index.html"

        @app.get("/", include_in_schema=False)
        async def dashboard() -> FileResponse:
            return FileResponse(index, headers={"Cache-Control": "no-cache"})

        app.mount("/dashboard", StaticFiles(directory=dashboard_dir), name="dashboard")
    return app
