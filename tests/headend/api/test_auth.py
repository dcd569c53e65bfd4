"""Tokens and roles: 401 for no or unknown token, 403 for too small a role, users recorded."""

from __future__ import annotations

import httpx
import pytest

from headend.api import ApiConfigError, ApiToken, Role, TokenBook
from tests.headend.api.fleet import ADMIN, OPERATOR, READER, LiveFleet


async def test_missing_token_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/meters")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "path",
    [
        "/api/readings/latest?meter=nope",
        "/api/meters/m1/readings?start=not-a-time",
        "/api/billing?meter=m1&start=2026-03-01&end=2026-02-01",
        "/api/completeness?group_by=planet",
        "/api/alarms?state=closed",
        "/api/fleet",
    ],
)
async def test_read_routes_check_the_token_before_anything_else(
    client: httpx.AsyncClient, path: str
) -> None:
    """The read routers check in their route class, not in a dependency: still 401 first,
    before the query is judged (no 422 or 404 tells a stranger what exists)."""
    response = await client.get(path, headers={"Authorization": "Bearer not-a-known-token"})
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "unknown token"}
    assert (await client.get(path.split("?")[0], headers=OPERATOR)).status_code != 401


@pytest.mark.parametrize(
    "header", ["Bearer not-a-known-token", "Basic cmVhZGVyOnNlY3JldA==", "Bearer "]
)
async def test_unknown_or_malformed_credentials_are_401(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/api/meters", headers={"Authorization": header})
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]


async def test_reader_may_read_but_not_switch_supply(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    assert (await client.get("/api/meters", headers=READER)).status_code == 200
    response = await client.post("/api/meters/m1/relay", headers=READER, json={"action": "trip"})
    assert response.status_code == 403
    assert "operator" in response.json()["detail"]
    assert fleet.engine.audit.recent() == [], "a refused request never reaches the meter"


async def test_operator_may_not_change_the_fleet_but_admin_may(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    assert (await client.delete("/api/meters/m2", headers=OPERATOR)).status_code == 403
    assert "m2" in fleet.engine.registry
    assert (await client.delete("/api/meters/m2", headers=ADMIN)).status_code == 204
    assert "m2" not in fleet.engine.registry
    assert fleet.engine.audit.recent()[0].user == "fleet-admin"


async def test_health_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["meters"] == 2
    assert (await client.get("/metrics")).status_code == 200


async def test_stream_token_is_only_accepted_as_a_query_parameter_on_the_stream(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/meters", params={"access_token": "reader-secret"})
    assert response.status_code == 401


def test_token_book_identifies_by_secret() -> None:
    book = TokenBook(
        [ApiToken("a", Role.READER, "aaaaaaaa"), ApiToken("b", Role.ADMIN, "bbbbbbbb")]
    )
    caller = book.identify("bbbbbbbb")
    assert caller is not None
    assert (caller.name, caller.role) == ("b", Role.ADMIN)
    assert book.identify("bbbbbbb") is None
    assert "bbbbbbbb" not in repr(ApiToken("b", Role.ADMIN, "bbbbbbbb"))


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ([ApiToken("a", Role.READER, "short")], r"api.tokens\[0\] \('a'\): token: shorter"),
        (
            [ApiToken("a", Role.READER, "aaaaaaaa"), ApiToken("a", Role.ADMIN, "bbbbbbbb")],
            r"tokens\[1\].*name: duplicate",
        ),
        (
            [ApiToken("a", Role.READER, "aaaaaaaa"), ApiToken("b", Role.ADMIN, "aaaaaaaa")],
            r"tokens\[1\].*token: same secret",
        ),
    ],
)
def test_unusable_token_lists_are_refused_naming_the_entry(
    tokens: list[ApiToken], message: str
) -> None:
    with pytest.raises(ApiConfigError, match=message):
        TokenBook(tokens)


def test_roles_are_ordered_and_parsed_by_name() -> None:
    assert Role.READER < Role.OPERATOR < Role.ADMIN
    assert Role.parse("Operator", "api.tokens[0]") is Role.OPERATOR
    with pytest.raises(ApiConfigError, match=r"api.tokens\[2\]: role: unknown role 'root'"):
        Role.parse("root", "api.tokens[2]")
