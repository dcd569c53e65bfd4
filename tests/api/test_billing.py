"""Billing reads through the API: stored frozen values, explicit gaps, JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import httpx
import pytest

from headend.readings import Quality, Reading, ReadingKind
from tests.api.fleet import READER, LiveFleet

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
