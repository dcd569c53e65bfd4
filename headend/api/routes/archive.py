"""Admin routes of the meter archive (档案): import a CSV or XLSX file (a dry run answers the
diff), export it, diff a file against it, and record a meter exchange (换表).

The file is the request body itself (``Content-Type: text/csv`` or the XLSX type), so a
billing office's script uploads with ``curl --data-binary @archive.xlsx``. It is parsed whole
(``storage.archive.sheet``) before the archive is touched: a bad cell is a 422 naming its row
and column, and nothing is imported. A change is audited before it acts, on the same path the
CLI takes (``headend.commands.archive_changes``). Archive uploads have a body limit of their
own (``[api] max_archive_bytes``), larger than every other route's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, Field

from headend.api.archive_refusals import ArchiveRefusal, ArchiveRefusals
from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.limits import WiderLimit
from headend.api.problems import unprocessable
from storage.archive.records import ArchiveMeter, MeterExchange
from storage.archive.sheet import cells_of, csv_text, meters_of_rows, rows_of_bytes, xlsx_bytes
from storage.archive.store import ArchiveStore
from storage.errors import ArchiveError, ArchiveImportError

PREFIX: Final = "/api/archive"
UPLOAD_PATHS: Final = (f"{PREFIX}/import", f"{PREFIX}/diff")
MAX_ARCHIVE_KEY: Final = "[api] max_archive_bytes"
CSV_TYPES: Final = frozenset({"text/csv", "application/csv"})
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NameQuery = Annotated[
    str | None, Query(max_length=200, description="The file's name, for the audit and errors")
]


class ExchangeIn(BaseModel):
    """A meter exchange as the crew's work order has it; reads by register (``total``,
    ``t1`` .. or a full register name), the total import required."""

    old_meter: str = Field(min_length=1)
    new_meter: str = Field(min_length=1)
    at: AwareDatetime
    old_final: dict[str, float] = Field(min_length=1)
    new_initial: dict[str, float] = Field(min_length=1)
    new_address: str | None = Field(default=None, pattern=r"^\d{1,12}$")
    """The new meter's address, when the archive does not list it yet: it then takes the old
    meter's account and place."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Upload:
    meters: list[ArchiveMeter]
    source: str
    """The file's name (``?name=``) or ``upload.csv``: in the audit entry and the errors."""


def wider_limits(max_archive_bytes: int) -> dict[str, WiderLimit]:
    """The archive uploads' paths and their limit, for ``BodyLimitReport``."""
    return {path: WiderLimit(max_archive_bytes, MAX_ARCHIVE_KEY) for path in UPLOAD_PATHS}


def meter_row(meter: ArchiveMeter) -> dict[str, Any]:
    from storage.archive.sheet import COLUMNS

    return dict(zip(COLUMNS, cells_of(meter), strict=True))


def exchange_row(exchange: MeterExchange) -> dict[str, Any]:
    return {
        "old_meter": exchange.old_meter,
        "new_meter": exchange.new_meter,
        "at": exchange.at.isoformat(),
        "old_final": dict(exchange.old_final),
        "new_initial": dict(exchange.new_initial),
        "reason": exchange.reason,
        "recorded_at": None if exchange.recorded_at is None else exchange.recorded_at.isoformat(),
    }


def archive_router(ctx: ApiContext, refusals: ArchiveRefusals, max_archive_bytes: int) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix=PREFIX, tags=["admin"])

    def refuse(reason: ArchiveRefusal, code: int, detail: str) -> HTTPException:
        refusals.count(reason)
        return HTTPException(code, detail=detail)

    def archive_path() -> Path:
        path = headend.archive_path
        if path is None:
            raise refuse(
                ArchiveRefusal.NO_ARCHIVE,
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "no archive file: this head-end runs without a data dir",
            )
        return path

    def kind_of(request: Request) -> str:
        given = request.headers.get("content-type", "")
        media = given.split(";", 1)[0].strip().lower()
        if media in CSV_TYPES:
            return "csv"
        if media == XLSX_TYPE:
            return "xlsx"
        raise refuse(
            ArchiveRefusal.CONTENT_TYPE,
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {given or '(none)'!r}: send the archive as text/csv or {XLSX_TYPE}",
        )

    async def uploaded(request: Request, source: str | None) -> Upload | Response:
        """The upload's meters and its name, or the counted refusal to answer with."""
        kind = kind_of(request)
        data = await request.body()
        source = source or f"upload.{kind}"
        try:
            return Upload(await asyncio.to_thread(_parse, data, kind, source), source)
        except ArchiveImportError as exc:
            refusals.count(ArchiveRefusal.MALFORMED)
            return _bad_rows(exc)
        except ArchiveError as exc:
            refusals.count(ArchiveRefusal.MALFORMED)
            return unprocessable(("body",), str(exc))

    def refused_change(exc: ArchiveError) -> Response:
        refusals.count(ArchiveRefusal.REFUSED)
        return unprocessable(("body",), str(exc))

    @router.post("/diff", max_body_size=max_archive_bytes, dependencies=[ctx.admin])
    async def diff(request: Request, name: NameQuery = None) -> Response:
        """What importing the uploaded file would add, change and remove; changes nothing."""
        path = archive_path()
        upload = await uploaded(request, name)
        if isinstance(upload, Response):
            return upload
        try:
            with ArchiveStore.open(path) as store:
                found = store.diff(upload.meters)
        except ArchiveError as exc:
            return refused_change(exc)
        return JSONResponse({"dry_run": True, "meters": len(upload.meters), **found.as_dict()})

    @router.post("/import", max_body_size=max_archive_bytes)
    async def import_file(
        request: Request,
        caller: Caller = ctx.admin,
        dry_run: bool = False,
        name: NameQuery = None,
    ) -> Response:
        """Make the archive exactly the uploaded file's meters: every row or none, audited
        before it acts. ``dry_run``: the diff only, nothing changed or audited."""
        path = archive_path()
        upload = await uploaded(request, name)
        if isinstance(upload, Response):
            return upload
        try:
            if dry_run:
                with ArchiveStore.open(path) as store:
                    found = store.diff(upload.meters)
            else:
                found = headend.import_archive(upload.meters, caller.name, upload.source)
        except ArchiveError as exc:
            return refused_change(exc)
        body = {"dry_run": dry_run, "meters": len(upload.meters), **found.as_dict()}
        return JSONResponse(body)

    @router.get(
        "/export",
        dependencies=[ctx.admin],
        response_class=Response,
        responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}}},
    )
    async def export(format: Literal["csv", "xlsx"] = "csv") -> Response:
        """Every meter of the archive (replaced ones too), in the columns import reads."""
        path = archive_path()
        meters = await asyncio.to_thread(_meters_of, path)
        disposition = {"Content-Disposition": f'attachment; filename="archive.{format}"'}
        if format == "xlsx":
            data = await asyncio.to_thread(xlsx_bytes, meters)
            return Response(data, media_type=XLSX_TYPE, headers=disposition)
        return Response(csv_text(meters), media_type="text/csv; charset=utf-8", headers=disposition)

    @router.get("/exchanges", dependencies=[ctx.admin])
    async def exchanges() -> dict[str, Any]:
        """Every exchange recorded, oldest first."""
        path = archive_path()
        found = await asyncio.to_thread(_exchanges_of, path)
        return {"exchanges": [exchange_row(e) for e in found]}

    @router.post("/exchanges", status_code=201)
    async def exchange(body: ExchangeIn, caller: Caller = ctx.admin) -> Any:
        """Record a meter exchange: the old meter's final reads, the new one's initial reads,
        when. Audited before it acts; consumption across it is then old-final - old-start +
        new-end - new-initial (``/api/billing/consumption``)."""
        from storage.archive.exchange_input import checked_reads

        path = archive_path()
        known = await asyncio.to_thread(_meters_of, path)
        if body.old_meter not in {m.id for m in known}:
            raise refuse(
                ArchiveRefusal.UNKNOWN_METER,
                status.HTTP_404_NOT_FOUND,
                f"meter {body.old_meter} is not in the archive",
            )
        reads: dict[str, dict[str, float]] = {}
        for field in ("old_final", "new_initial"):
            try:
                reads[field] = checked_reads(getattr(body, field), field)
            except ArchiveError as exc:
                refusals.count(ArchiveRefusal.MALFORMED)
                return unprocessable(("body", field), str(exc))
        recorded = MeterExchange(
            body.old_meter,
            body.new_meter,
            body.at,
            reads["old_final"],
            reads["new_initial"],
            reason=body.reason,
        )
        try:
            new = headend.exchange_meters(recorded, body.new_address, caller.name)
        except ArchiveError as exc:
            return refused_change(exc)
        return JSONResponse(
            {"exchange": exchange_row(recorded), "new_meter": meter_row(new)}, status_code=201
        )

    return router


def _parse(data: bytes, kind: str, source: str) -> list[ArchiveMeter]:
    return meters_of_rows(rows_of_bytes(data, kind, source), source)


def _meters_of(path: Path) -> list[ArchiveMeter]:
    with ArchiveStore.open(path) as store:
        return store.meters()


def _exchanges_of(path: Path) -> list[MeterExchange]:
    with ArchiveStore.open(path) as store:
        return store.exchanges()


def _bad_rows(exc: ArchiveImportError) -> Response:
    """422 in FastAPI's shape, one entry per bad cell: ``loc`` is ``["body", row, column]``
    (the spreadsheet's row number, the column's name), ``msg`` the whole problem."""
    detail = []
    for index, problem in enumerate(exc.problems):
        loc: list[Any] = ["body"]
        if index < len(exc.cells):
            row, column = exc.cells[index]
            loc += [row] if column is None else [row, column]
        detail.append({"loc": loc, "msg": problem, "type": "value_error"})
    return JSONResponse(
        {"detail": detail, "source": exc.source, "imported": 0},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )
