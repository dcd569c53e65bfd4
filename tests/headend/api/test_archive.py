"""The archive's admin routes: a dry run answers the diff and changes nothing, an import is
audited before it acts, export round-trips CSV and XLSX, an exchange is recorded and bridges
consumption, and hostile uploads (too large, wrong type, a bad row, unknown meter) are refused,
named and counted with nothing imported."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openpyxl
import pytest

from headend.api import create_app
from headend.api.limits import ApiLimits
from storage.archive.sheet import COLUMNS
from storage.archive.store import ArchiveStore
from tests.headend.api.fleet import ADMIN, OPERATOR, TOKENS, LiveFleet

CSV = {"Content-Type": "text/csv"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = (
    "id,address,transformer,account,kind,ct_ratio\n"
    "A,000000000101,T1,ACC-1,household,\n"
    "B,000000000102,T1,ACC-2,public,2\n"
)
LIMIT = 16384
BODY_LIMIT = 1024
"""Every other route's: smaller than an archive upload's."""


@pytest.fixture
async def admin(fleet: LiveFleet, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API with an archive file and a small archive upload limit."""
    fleet.engine.archive_path = tmp_path / "archive.sqlite"
    app = create_app(
        fleet.engine,
        tokens=TOKENS,
        store=fleet.store,
        limits=ApiLimits(max_body_bytes=BODY_LIMIT, max_archive_bytes=LIMIT),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
        yield http


async def upload(
    client: httpx.AsyncClient, body: bytes | str, path: str = "import", **params: str
) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    headers = {**ADMIN, **CSV}
    return await client.post(
        f"/api/archive/{path}", headers=headers, content=content, params=params
    )


def archived(fleet: LiveFleet) -> list[str]:
    path = fleet.engine.archive_path
    assert path is not None
    with ArchiveStore.open(path) as store:
        return [m.id for m in store.meters()]


async def refused_total(client: httpx.AsyncClient, reason: str) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'headend_archive_refused_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no archive refusal counter {reason}")


async def test_a_dry_run_answers_the_diff_then_the_import_is_audited_first(
    admin: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    dry = await upload(admin, SHEET, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert (dry.json()["dry_run"], dry.json()["added"]) == (True, ["A", "B"])
    assert archived(fleet) == []
    assert fleet.engine.audit.recent("archive") == []  # a dry run changes and audits nothing
    done = await upload(admin, SHEET, name="office.csv")
    assert done.status_code == 200, done.text
    assert done.json()["summary"] == "2 added, 0 changed, 0 removed"
    assert archived(fleet) == ["A", "B"]
    outcome, intent = fleet.engine.audit.recent("archive")[:2]
    assert (intent.outcome, intent.command, intent.user) == (
        "intent",
        "archive import",
        "fleet-admin",
    )
    assert intent.detail == "office.csv: 2 meters, 2 added, 0 changed, 0 removed"
    assert (outcome.outcome, outcome.ref) == ("ok", intent.id)
    lines = (fleet.engine.audit.path or Path()).read_text().splitlines()
    assert json.loads(lines[-2])["id"] == intent.id  # on disk, before its outcome
    moved = SHEET.replace("000000000102,T1", "000000000102,T2")
    diff = await upload(admin, moved, "diff")
    assert diff.json()["changed"] == [
        {"id": "B", "fields": {"transformer": {"old": "T1", "new": "T2"}}}
    ]


async def test_export_round_trips_as_csv_and_xlsx(
    admin: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    assert (await upload(admin, SHEET)).status_code == 200
    exported = await admin.get("/api/archive/export", headers=ADMIN)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    header, first, second = exported.text.splitlines()
    assert header == ",".join(COLUMNS)
    assert first.startswith("A,000000000101,dlt645-2007,")
    assert ",2.0," in second  # B's CT ratio
    again = await upload(admin, exported.text, "diff")
    assert again.json()["summary"] == "0 added, 0 changed, 0 removed"
    book = await admin.get("/api/archive/export", headers=ADMIN, params={"format": "xlsx"})
    assert book.headers["content-type"] == XLSX
    rows = list(openpyxl.load_workbook(io.BytesIO(book.content)).worksheets[0].values)
    assert rows[1][:2] == ("A", "000000000101")  # the address stays text, zeros kept
    headers = {**ADMIN, "Content-Type": XLSX}
    back = await admin.post("/api/archive/diff", headers=headers, content=book.content)
    assert back.json()["summary"] == "0 added, 0 changed, 0 removed"


async def test_a_bad_row_names_its_row_and_column_and_nothing_is_imported(
    admin: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    assert (await upload(admin, SHEET)).status_code == 200
    bad = SHEET + "C,000000000103,T1,ACC-3,shed,\nD,12a,T1,,household,0\n"
    answer = await upload(admin, bad)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert [d["loc"] for d in detail] == [
        ["body", 4, "kind"],
        ["body", 5, "address"],
        ["body", 5, "ct_ratio"],
    ]
    assert "'shed' is not a meter kind" in detail[0]["msg"]
    assert archived(fleet) == ["A", "B"]
    assert await refused_total(admin, "malformed") == 1


@pytest.mark.parametrize(
    ("headers", "content", "code", "reason"),
    [
        ({"Content-Type": "application/json"}, b"{}", 415, "content_type"),
        ({}, b"id,address\n", 415, "content_type"),
        ({"Content-Type": XLSX}, b"not a zip", 422, "malformed"),
        ({"Content-Type": "text/csv"}, b"id,address\n\xff\xfe,1\n", 422, "malformed"),
    ],
)
async def test_hostile_uploads_are_refused_and_counted(
    admin: httpx.AsyncClient,
    fleet: LiveFleet,
    headers: dict[str, str],
    content: bytes,
    code: int,
    reason: str,
) -> None:
    answer = await admin.post("/api/archive/import", headers={**ADMIN, **headers}, content=content)
    assert answer.status_code == code, answer.text
    assert await refused_total(admin, reason) == 1
    assert archived(fleet) == []


async def test_an_upload_over_the_archive_limit_is_refused_with_the_limit_named(
    admin: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    rows = "".join(f"M{n},{n:012d}\n" for n in range(LIMIT // 10))
    answer = await upload(admin, "id,address\n" + rows)
    assert answer.status_code == 413
    assert f"{LIMIT} bytes ([api] max_archive_bytes)" in answer.json()["detail"]
    assert archived(fleet) == []
    # Larger than every other route's limit is fine up to the archive's.
    fits = "id,address\n" + "".join(f"M{n},{n:012d}\n" for n in range(100))
    assert BODY_LIMIT < len(fits) < LIMIT
    assert (await upload(admin, fits)).status_code == 200
    assert len(archived(fleet)) == 100


async def test_a_chunked_upload_is_stopped_at_the_archive_limit(
    admin: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"id,address\n"
        for n in range(LIMIT // 10):
            yield f"M{n},{n:012d}\n".encode()

    answer = await admin.post("/api/archive/import", headers={**ADMIN, **CSV}, content=chunks())
    assert answer.status_code == 413
    assert "[api] max_archive_bytes" in answer.json()["detail"]
    assert archived(fleet) == []


async def test_only_admins_change_or_read_the_archive(admin: httpx.AsyncClient) -> None:
    answer = await admin.post(
        "/api/archive/import", headers={**OPERATOR, **CSV}, content=SHEET.encode()
    )
    assert answer.status_code == 403
    assert (await admin.get("/api/archive/export", headers=OPERATOR)).status_code == 403


EXCHANGE = {
    "old_meter": "A",
    "new_meter": "A2",
    "at": "2026-03-05T10:30:00+08:00",
    "old_final": {"total": 1234.5, "t1": 200.25},
    "new_initial": {"total": 0.5},
    "new_address": "000000000199",
    "reason": "display fault",
}


async def test_an_exchange_is_audited_then_recorded_with_the_new_meter_in_the_old_place(
    admin: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    assert (await upload(admin, SHEET)).status_code == 200
    answer = await admin.post("/api/archive/exchanges", headers=ADMIN, json=EXCHANGE)
    assert answer.status_code == 201, answer.text
    new = answer.json()["new_meter"]
    assert (new["id"], new["address"], new["account"], new["installed"]) == (
        "A2",
        "000000000199",
        "ACC-1",
        "2026-03-05",
    )
    assert answer.json()["exchange"]["old_final"] == {
        "energy_active_import_total": 1234.5,
        "energy_active_import_t1": 200.25,
    }
    outcome, intent = fleet.engine.audit.recent("A")[:2]
    assert (intent.command, intent.outcome, outcome.outcome) == ("meter exchange", "intent", "ok")
    assert intent.data["old_final"] == {
        "energy_active_import_total": 1234.5,
        "energy_active_import_t1": 200.25,
    }
    listed = await admin.get("/api/archive/exchanges", headers=ADMIN)
    assert [(e["old_meter"], e["new_meter"]) for e in listed.json()["exchanges"]] == [("A", "A2")]
    twice = await admin.post("/api/archive/exchanges", headers=ADMIN, json=EXCHANGE)
    assert twice.status_code == 422
    assert "already exchanged" in twice.text
    assert fleet.engine.audit.recent("A")[0].outcome == "refused"


@pytest.mark.parametrize(
    ("change", "code", "reason", "named"),
    [
        ({"old_meter": "Z"}, 404, "unknown_meter", "meter Z is not in the archive"),
        ({"new_initial": {"t1": 0.0}}, 422, "malformed", "total import read is required"),
        ({"old_final": {"total": -1.0}}, 422, "malformed", "old_final total"),
        ({"at": "2026-03-05T10:30:00"}, 422, None, "at"),
    ],
)
async def test_a_bad_exchange_is_refused_and_nothing_recorded(
    admin: httpx.AsyncClient,
    fleet: LiveFleet,
    change: dict[str, object],
    code: int,
    reason: str | None,
    named: str,
) -> None:
    assert (await upload(admin, SHEET)).status_code == 200
    answer = await admin.post("/api/archive/exchanges", headers=ADMIN, json={**EXCHANGE, **change})
    assert answer.status_code == code, answer.text
    assert named in answer.text
    if reason is not None:
        assert await refused_total(admin, reason) == 1
    assert archived(fleet) == ["A", "B"]
    assert fleet.engine.audit.recent("A") == []
