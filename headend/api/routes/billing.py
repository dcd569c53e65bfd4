"""Billing reads for billing systems: daily frozen values with explicit gaps, JSON or CSV.

The assembly (one row per meter, day and quantity, ``not_collected`` where nothing usable is
stored) is ``storage.billing``'s; this module validates the request, caps the work it may ask
for, pages it by meter (``cursor``/``limit``) and streams the answer (``billing_stream``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from headend.api.billing_stream import BillingPage, csv_chunks, json_chunks, started
from headend.api.context import ApiContext
from headend.api.models import BillingOut
from headend.api.problems import InvalidField
from storage.billing import DEFAULT_BILLING_QUANTITIES
from storage.billing_csv import MeterLabels
from storage.errors import SinkUnavailable, StorageError

MAX_PERIOD = timedelta(days=366)
MAX_METER_DAYS: Final = 10_000
"""Meters x days one request (page) may ask for: a transformer of 320 meters for a month, or
27 meters for a year. Larger asks get 422 naming this limit and the ``limit`` that fits."""
MAX_QUANTITIES: Final = 8
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
NEXT_CURSOR_HEADER = "X-Next-Cursor"
# Module level: route annotations are strings (PEP 563), resolved against module globals.
MeterQuery = Annotated[list[str] | None, Query(description="Meter id; repeat for several")]
TransformerQuery = Annotated[
    str | None,
    Query(description="Every meter registered under this transformer or with data stored under it"),
]
PeriodStart = Annotated[date, Query(description="First local day of the period")]
PeriodEnd = Annotated[date, Query(description="Last local day of the period (included)")]
QuantityQuery = Annotated[
    list[str] | None, Query(description="Default: energy_active_import_total")
]
CursorQuery = Annotated[
    str | None, Query(description="next_cursor of the previous page: continue after this meter")
]
LimitQuery = Annotated[
    int | None, Query(ge=1, description="Meters per page (default: all, within the cap)")
]


@contextmanager
def store_errors() -> Iterator[None]:
    """The store's failures as HTTP statuses that say whose they are (503: down, 502: broken)."""
    try:
        yield
    except SinkUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from exc
    except StorageError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(exc)) from exc


def billing_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api", route_class=ctx.reader_routes, tags=["billing"])

    async def meters_of_transformer(transformer: str) -> list[str]:
        """Every meter the registry has under it (never read ones too, to show their gaps),
        and those that stored data under it before they were moved or removed."""
        registered = {m.id for m in headend.meters() if m.transformer == transformer}
        behind = headend.terminal_meters().values()
        registered.update(m.id for m in behind if m.transformer == transformer)
        stored = await ctx.require_store().meters_of_transformer(transformer)
        return sorted(registered.union(stored))

    def labels_of(meters: list[str], transformer: str | None) -> dict[str, MeterLabels]:
        known = headend.meters_by_id()
        behind = headend.terminal_meters()
        labels = {}
        for meter_id in meters:
            config = known.get(meter_id)
            if config is None and meter_id in behind:  # read by a concentrator
                concentrated = behind[meter_id]
                labels[meter_id] = MeterLabels(
                    address=concentrated.address or "",
                    household=concentrated.household or "",
                    building=concentrated.building or "",
                    transformer=concentrated.transformer or "",
                )
                continue
            if config is None:  # stored under this transformer, since removed from the fleet
                labels[meter_id] = MeterLabels(transformer=transformer or "")
                continue
            labels[meter_id] = MeterLabels(
                address=config.address or (str(config.unit_id) if config.unit_id else ""),
                household=config.household or "",
                building=config.building or "",
                transformer=config.transformer or "",
            )
        return labels

    async def page_for(
        meter: list[str] | None,
        transformer: str | None,
        start: date,
        end: date,
        quantity: list[str] | None,
        cursor: str | None,
        limit: int | None,
    ) -> BillingPage:
        if (not meter) == (transformer is None):
            raise InvalidField(("query", "meter"), "give either meter (repeatable) or transformer")
        if end < start:
            raise InvalidField(("query", "end"), f"end {end} is before start {start}")
        if end - start >= MAX_PERIOD:  # both days included: 366 days is end - start = 365
            raise InvalidField(("query", "end"), f"at most {MAX_PERIOD.days} days per request")
        if transformer is not None and transformer not in headend.transformers:
            raise InvalidField(("query", "transformer"), f"unknown transformer {transformer!r}")
        for meter_id in meter or ():
            headend.require_known(meter_id)  # 404 for a meter no bus nor concentrator has
        quantities = tuple(dict.fromkeys(quantity or DEFAULT_BILLING_QUANTITIES))
        if len(quantities) > MAX_QUANTITIES:
            raise InvalidField(
                ("query", "quantity"), f"at most {MAX_QUANTITIES} quantities per request"
            )
        store = ctx.require_store()
        if transformer is not None:
            with store_errors():
                meters = await meters_of_transformer(transformer)
            selector = "transformer"
        else:
            meters, selector = list(dict.fromkeys(meter or ())), "meter"
        if cursor is not None:
            if cursor not in meters:
                raise InvalidField(
                    ("query", "cursor"), f"cursor {cursor!r} is not a meter of this request"
                )
            meters = meters[meters.index(cursor) + 1 :]
        days = (end - start).days + 1
        page = meters if limit is None else meters[:limit]
        if len(page) * days > MAX_METER_DAYS:
            fits = max(1, MAX_METER_DAYS // days)
            raise InvalidField(
                ("query", "limit" if limit is not None else selector),
                f"{len(page)} meters x {days} days = {len(page) * days} meter-days; at most "
                f"{MAX_METER_DAYS} meter-days (MAX_METER_DAYS) per request: page with "
                f"limit={fits} and cursor, or ask for a shorter period",
            )
        return BillingPage(
            source=store,
            meters=page,
            quantities=quantities,
            start=start,
            end=end,
            tz=headend.tz,
            labels=labels_of(page, transformer),
            next_cursor=page[-1] if len(page) < len(meters) else None,
            tariffs=headend.tariff_names,
        )

    def paging_headers(page: BillingPage) -> dict[str, str]:
        return {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor else {}

    async def body_of(pieces: AsyncIterator[str]) -> AsyncIterator[str]:
        with store_errors():
            return await started(pieces)

    async def as_csv(page: BillingPage) -> StreamingResponse:
        filename = f"billing-{page.start}-{page.end}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        return StreamingResponse(
            await body_of(csv_chunks(page)),
            media_type=CSV_MEDIA_TYPE,
            headers={**headers, **paging_headers(page)},
        )

    async def as_json(page: BillingPage) -> StreamingResponse:
        return StreamingResponse(
            await body_of(json_chunks(page)),
            media_type="application/json",
            headers=paging_headers(page),
        )

    documented: dict[int | str, dict[str, Any]] = {
        200: {
            "model": BillingOut,
            "content": {"text/csv": {}},
            "description": "JSON (streamed), or CSV (format=csv)",
        }
    }

    @router.get("/billing", response_class=StreamingResponse, responses=documented)
    async def billing(
        start: PeriodStart,
        end: PeriodEnd,
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = None,
        format: Literal["json", "csv"] = "json",
    ) -> StreamingResponse:
        page = await page_for(meter, transformer, start, end, quantity, cursor, limit)
        return await (as_csv(page) if format == "csv" else as_json(page))

    csv_content: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}

    @router.get("/billing.csv", response_class=StreamingResponse, responses=csv_content)
    async def billing_csv(
        start: PeriodStart,
        end: PeriodEnd,
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
        cursor: CursorQuery = None,
        limit: LimitQuery = None,
    ) -> StreamingResponse:
        return await as_csv(await page_for(meter, transformer, start, end, quantity, cursor, limit))

    return router
