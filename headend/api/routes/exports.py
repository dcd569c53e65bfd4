"""``/api/exports/meter-readings`` (IEC 61968-9 MeterReadings XML) and
``/api/exports/settlement.csv``: the stored billing reads for a billing system that polls.

Both page the embedded store's change log (``storage.exports.change_log``): ``since`` is the
last ``seq`` the caller has, the answer holds the entries after it in ``seq`` order and the
``X-Next-Cursor`` header is the ``since`` of the next call (the last entry's ``seq``, or
``since`` itself when nothing is new). ``X-More: true`` says the page was full: call again at
once. Polling so gives every stored value exactly once, a corrected one again with a higher
``seq`` (docs/exports.md). Before a page is read the archive's meter exchanges are logged
(``storage.exports.exchange_log``, idempotent): the crew's reads reach the CSV (the XML carries
the freezes only, its ReadingTypes being daily); and freezes lost between two real ones are
logged estimated and flagged (``storage.exports.estimate_log``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from headend.api.archive_view import archive_exchanges, archive_meters
from headend.api.context import ApiContext
from headend.api.routes.billing import store_errors
from headend.collection.customers import customers_of
from storage.exports.change_log import MAX_PAGE, ChangedReading, ChangeSource
from storage.exports.cim_meter_readings import MeterIdentity, exportable, meter_readings_xml
from storage.exports.exchange_log import (
    DAILY_FREEZE,
    ExchangeLog,
    in_service_meter,
    reading_of,
    usage_points,
)
from storage.exports.settlement_csv import Customer, settlement_csv

NEXT_CURSOR_HEADER: Final = "X-Next-Cursor"
MORE_HEADER: Final = "X-More"
XML_MEDIA_TYPE: Final = "application/xml"
CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
SinceQuery = Annotated[
    int, Query(ge=0, description="The X-Next-Cursor of the previous call (0: from the start)")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Entries per page at most")]


def exports_router(ctx: ApiContext, data_dir: Path | None) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api/exports", route_class=ctx.reader_routes, tags=["exports"])

    async def page(since: int, limit: int) -> tuple[list[ChangedReading], dict[str, str]]:
        store = ctx.require_store()
        if not isinstance(store, ChangeSource):
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="exports read the embedded store's change log: this head-end stores "
                "elsewhere (docs/exports.md)",
            )
        exchanges = await archive_exchanges(data_dir)
        with store_errors():
            if isinstance(store, ExchangeLog):  # the crew's reads and estimates, before the page
                if exchanges:
                    await store.log_exchange_reads(exchanges)
                await store.log_estimates(headend.tz, exchanges)
            rows = await store.changes(since, limit)
        rows = in_service_meter(rows, exchanges)
        headers = {
            NEXT_CURSOR_HEADER: str(rows[-1].seq if rows else since),
            MORE_HEADER: "true" if len(rows) >= limit else "false",
        }
        return rows, headers

    async def customers(meters: set[str]) -> dict[str, Customer]:
        """Archive first (account, asset, customer, CT x PT), the fleet file's labels after."""
        archive = await archive_meters(data_dir)
        points = usage_points(await archive_exchanges(data_dir))
        bus, behind = headend.meters_by_id(), headend.terminal_meters()
        return customers_of(meters, archive, bus, behind, points)

    xml_content: dict[int | str, dict[str, Any]] = {200: {"content": {XML_MEDIA_TYPE: {}}}}

    @router.get("/meter-readings", response_class=Response, responses=xml_content)
    async def meter_readings(since: SinceQuery = 0, limit: LimitQuery = 10_000) -> Response:
        rows, headers = await page(since, limit)
        known = await customers({row.meter for row in rows})
        identities = {
            meter: MeterIdentity(asset=c.asset, account=c.account, address=c.address)
            for meter, c in known.items()
        }
        freezes = [row for row in rows if reading_of(row.tags) == DAILY_FREEZE]
        body = meter_readings_xml(exportable(freezes), identities)
        return Response(body, media_type=XML_MEDIA_TYPE, headers=headers)

    csv_content: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}

    @router.get("/settlement.csv", response_class=Response, responses=csv_content)
    async def settlement(since: SinceQuery = 0, limit: LimitQuery = 10_000) -> Response:
        rows, headers = await page(since, limit)
        known = await customers({row.meter for row in rows})
        body = settlement_csv(rows, known, headend.tz)
        filename = f"settlement-{since}-{headers[NEXT_CURSOR_HEADER]}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(body, media_type=CSV_MEDIA_TYPE, headers=headers)

    return router
