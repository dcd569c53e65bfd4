"""``/api/trends``: the overview's curves from what the collecting engine stored."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from headend.api import create_app
from storage.records import Reading
from tests.headend.api.fleet import READER, TOKENS, WAIT_SECONDS, LiveFleet, next_reading

PARAMS = {"hours": "1", "bucket_minutes": "1"}
"""One-minute buckets: each holds the one read of each meter of the 1 min plan."""


async def _trends_until(client: httpx.AsyncClient, found: Any) -> dict[str, Any]:
    """Ask again until ``found(body)`` (the writer flushes to the store every 50 ms)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            response = await client.get("/api/trends", headers=READER, params=PARAMS)
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            if found(body):
                return body


async def test_the_load_curve_sums_the_meters_and_rates_it_like_the_overload_rule(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    fleet.values["m1"]["power_active_total"] = 30.0
    fleet.values["m2"]["power_active_total"] = 55.0
    await next_reading(fleet.engine, "m1", "power_active_total", value=30.0)
    await next_reading(fleet.engine, "m2", "power_active_total", value=55.0)

    def has_85(body: dict[str, Any]) -> bool:
        return any(v == pytest.approx(85.0) for v in body["transformers"][0]["load_kw"] if v)

    body = await _trends_until(client, has_85)
    [t1] = body["transformers"]
    assert t1["name"] == "T1"
    assert len(t1["load_kw"]) == len(body["buckets"]) == 60
    index = next(i for i, v in enumerate(t1["load_kw"]) if v and v == pytest.approx(85.0))
    assert t1["source"][index] == "meters"
    assert t1["load_rate"][index] == pytest.approx(85.0 / (100 * 0.95))  # rated 100 kVA, PF 0.95
    assert body["load_limits"] == {"heavy": 0.8, "overload": 1.0}


async def test_the_voltage_curve_is_each_buildings_minimum(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    fleet.values["m1"]["voltage_a"] = 205.5  # m1 is building B1's only meter
    await next_reading(fleet.engine, "m1", "voltage_a", value=205.5)

    def b1_low(body: dict[str, Any]) -> bool:
        return 205.5 in body["buildings"][0]["voltage_min"]

    body = await _trends_until(client, b1_low)
    b1, b2 = body["buildings"]
    assert (b1["name"], b2["name"]) == ("B1", "B2")
    index = b1["voltage_min"].index(205.5)
    assert b1["voltage_avg"][index] == pytest.approx(205.5), "the plan reads voltage_a only"
    assert 205.5 not in b2["voltage_min"]
    assert body["voltage_band"]["low"] == pytest.approx(198.0)
    assert body["voltage_band"]["high"] == pytest.approx(235.4)


@pytest.mark.parametrize(
    ("params", "field"), [({"hours": "0"}, "hours"), ({"bucket_minutes": "x"}, "bucket_minutes")]
)
async def test_bad_trend_queries_are_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/trends", headers=READER, params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]
    assert (await client.get("/api/trends")).status_code == 401


async def test_a_settled_bucket_is_computed_once_until_the_app_starts_over(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    """Two hours back (engine time) is settled: its figure is kept, so a value stored into it
    later shows only to a new app (docs/dashboard.md says so)."""
    now = fleet.engine.clock.now()
    old = now.replace(second=0, microsecond=0) - timedelta(hours=2, minutes=-0.5)
    await fleet.store.write(
        [
            Reading("m1", "power_active_total", 3.0, "kW", old),
            Reading("m2", "power_active_total", 4.0, "kW", old),
        ]
    )
    params = {"hours": "3", "bucket_minutes": "1"}
    first = (await client.get("/api/trends", headers=READER, params=params)).json()
    index = first["buckets"].index(old.replace(second=0).isoformat().replace("+00:00", "Z"))
    assert first["transformers"][0]["load_kw"][index] == pytest.approx(7.0)

    later = old + timedelta(seconds=10)  # the same minute: m2's mean becomes (4 + 8) / 2
    await fleet.store.write([Reading("m2", "power_active_total", 8.0, "kW", later)])
    again = (await client.get("/api/trends", headers=READER, params=params)).json()
    assert again["transformers"][0]["load_kw"][index] == pytest.approx(7.0), "kept"

    app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://headend"
    ) as fresh:
        anew = (await fresh.get("/api/trends", headers=READER, params=params)).json()
    assert anew["transformers"][0]["load_kw"][index] == pytest.approx(3.0 + 6.0)
