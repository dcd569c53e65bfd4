"""``/docs`` works offline (every asset from this server) and the OpenAPI document declares
the token schemes and the enumerations clients switch on."""

from __future__ import annotations

import re

import httpx
import pytest

from headend.drivers.dlt645.control import RelayState
from storage.billing import DayState
from storage.records import Quality, ReadingKind, Severity

URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


async def test_docs_page_references_only_this_server_and_its_assets_are_served(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    urls = URL_ATTRIBUTE.findall(page.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    assert any(url.endswith("swagger-ui.css") for url in urls)
    assert "<script>" not in page.text, "no inline script: the CSP forbids them"
    for url in urls:
        assert url.startswith("/"), f"{url} is not local"
        assert not url.startswith("//"), f"{url} is not local"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    init = await client.get("/docs/init.js")
    assert '"/openapi.json"' in init.text
    assert "http" not in init.text, "no external validator or CDN"


async def test_openapi_declares_the_bearer_scheme_on_every_api_route(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["access_token"]["in"] == "query"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            security = operation.get("security", [])
            if path.startswith("/api/"):
                assert {"bearer": []} in security, f"{method} {path}"
            else:
                assert security == [], f"{method} {path} needs no token"
    assert {"access_token": []} in document["paths"]["/api/stream"]["get"]["security"]
    assert {"access_token": []} not in document["paths"]["/api/meters"]["get"]["security"]


@pytest.mark.parametrize(
    ("schema", "values"),
    [
        ("Quality", [q.value for q in Quality]),
        ("ReadingKind", [k.value for k in ReadingKind]),
        ("Severity", [s.value for s in Severity]),
        ("RelayState", [s.value for s in RelayState]),
    ],
)
async def test_openapi_declares_the_enumerations(
    client: httpx.AsyncClient, schema: str, values: list[str]
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas[schema]["enum"] == values


async def test_openapi_fields_refer_to_the_enumerations(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    reading = schemas["ReadingOut"]["properties"]
    assert reading["quality"] == {"$ref": "#/components/schemas/Quality"}
    assert reading["kind"] == {"$ref": "#/components/schemas/ReadingKind"}
    point = schemas["PointOut"]["properties"]
    assert point["quality"] == {"$ref": "#/components/schemas/Quality"}
    assert schemas["AlarmOut"]["properties"]["severity"] == {
        "$ref": "#/components/schemas/Severity"
    }
    relay = schemas["RelayIn"]["properties"]["action"]
    assert relay["enum"] == ["trip", "close_permitted", "close_direct"]


async def test_openapi_billing_and_history_fields_refer_to_the_enumerations(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["DayState"]["enum"] == [s.value for s in DayState]
    daily = schemas["DailyOut"]["properties"]
    assert daily["state"] == {"$ref": "#/components/schemas/DayState"}
    assert {"$ref": "#/components/schemas/Quality"} in daily["quality"]["anyOf"]
    interval = schemas["IntervalOut"]["properties"]
    assert interval["quality"] == {"$ref": "#/components/schemas/Quality"}
    assert schemas["History"]["properties"]["kind"] == {"$ref": "#/components/schemas/ReadingKind"}
