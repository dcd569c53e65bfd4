"""Bearer tokens with ordered roles: who may read, who may switch supply, who may change the fleet.

Billing systems get ``reader``; the control room gets ``operator`` (relay control, alarm
acknowledgement, on-demand reads, clock); ``admin`` adds and removes meters. A missing or
unknown token is 401 (with ``WWW-Authenticate`` so clients know to send one), a known token
with too small a role is 403. Tokens are compared in constant time, and every entry is
checked so that the time taken does not reveal which token almost matched.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from headend.api.errors import ApiConfigError

MIN_TOKEN_LENGTH = 8
STREAM_TOKEN_PARAMETER = "access_token"
"""Query parameter that carries the token where a header cannot (browser ``EventSource``)."""


class Role(enum.IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    READER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str, where: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            known = ", ".join(r.name.lower() for r in cls)
            raise ApiConfigError(f"{where}: role: unknown role {text!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    """Recorded as the user of every control action made with this token."""
    role: Role
    token: str

    def __repr__(self) -> str:  # never print the secret
        return f"ApiToken(name={self.name!r}, role={self.role.name.lower()})"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the token's name and role."""

    name: str
    role: Role


class TokenBook:
    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self._tokens = tuple(tokens)
        names: set[str] = set()
        secrets: set[str] = set()
        for index, entry in enumerate(self._tokens):
            where = f"api.tokens[{index}] ({entry.name!r})"
            if not entry.name:
                raise ApiConfigError(f"api.tokens[{index}]: name: must not be empty")
            if entry.name in names:
                raise ApiConfigError(f"{where}: name: duplicate token name")
            if len(entry.token) < MIN_TOKEN_LENGTH:
                raise ApiConfigError(f"{where}: token: shorter than {MIN_TOKEN_LENGTH} characters")
            if entry.token in secrets:
                raise ApiConfigError(f"{where}: token: same secret as another entry")
            names.add(entry.name)
            secrets.add(entry.token)

    def __len__(self) -> int:
        return len(self._tokens)

    def identify(self, presented: str) -> Caller | None:
        """The caller owning ``presented``, comparing against every entry in constant time."""
        given = presented.encode()
        found: Caller | None = None
        for entry in self._tokens:
            if hmac.compare_digest(given, entry.token.encode()):
                found = Caller(entry.name, entry.role)
        return found


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def presented_token(request: Request, *, allow_query: bool) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthorised("Authorization header must be 'Bearer <token>'")
        return credentials.strip()
    if allow_query:
        return request.query_params.get(STREAM_TOKEN_PARAMETER)
    return None


# Declared for the OpenAPI document (``securitySchemes`` and each route's ``security``), so
# clients and /docs know to send a token; the checking is ours, below, for its 401 messages.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="`Authorization: Bearer <token>`; role reader < operator < admin",
    auto_error=False,
)
QUERY_TOKEN = APIKeyQuery(
    name=STREAM_TOKEN_PARAMETER,
    scheme_name="access_token",
    description="The token as a query parameter, on /api/stream only (browser EventSource)",
    auto_error=False,
)
_Declared = HTTPAuthorizationCredentials | str | None


def requires(
    book: TokenBook, role: Role, *, allow_query: bool = False
) -> Callable[..., Awaitable[Caller]]:
    """A FastAPI dependency admitting callers with at least ``role``."""

    async def check(request: Request) -> Caller:
        token = presented_token(request, allow_query=allow_query)
        if token is None:
            raise _unauthorised("missing bearer token")
        caller = book.identify(token)
        if caller is None:
            raise _unauthorised("unknown token")
        if caller.role < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"token {caller.name!r} has role {caller.role.name.lower()}; "
                f"this needs {role.name.lower()}",
            )
        return caller

    async def header_only(request: Request, _: Annotated[_Declared, Security(BEARER)]) -> Caller:
        return await check(request)

    async def header_or_query(
        request: Request,
        _header: Annotated[_Declared, Security(BEARER)],
        _query: Annotated[_Declared, Security(QUERY_TOKEN)],
    ) -> Caller:
        return await check(request)

    return header_or_query if allow_query else header_only
