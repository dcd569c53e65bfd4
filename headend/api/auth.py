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
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from fastapi import HTTPException, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyQuery, HTTPBearer
from starlette.routing import BaseRoute

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
        self._secrets = tuple(
            (entry.token.encode(), Caller(entry.name, entry.role)) for entry in self._tokens
        )
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
        for secret, caller in self._secrets:
            if hmac.compare_digest(given, secret):
                found = caller
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


# Declared in the OpenAPI document (``securitySchemes`` and each route's ``security``, by
# ``declare_security``), so clients and /docs know to send a token. They are not FastAPI
# dependencies: solving a nested ``Security`` dependency on every request cost more than the
# dashboard's routes themselves, and the checking is ours anyway, for its 401 messages.
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


class RoleCheck:
    """Admits callers with at least ``role``: a FastAPI dependency whose only parameter is the
    request (the cheapest kind FastAPI solves), or run directly by ``role_checked_route``."""

    def __init__(self, book: TokenBook, role: Role, *, allow_query: bool = False) -> None:
        self.book = book
        self.role = role
        self.allow_query = allow_query
        self.schemes = (BEARER, QUERY_TOKEN) if allow_query else (BEARER,)
        """What the OpenAPI document declares for the routes this guards."""

    def authorise(self, request: Request) -> Caller:
        token = presented_token(request, allow_query=self.allow_query)
        if token is None:
            raise _unauthorised("missing bearer token")
        caller = self.book.identify(token)
        if caller is None:
            raise _unauthorised("unknown token")
        if caller.role < self.role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"token {caller.name!r} has role {caller.role.name.lower()}; "
                f"this needs {self.role.name.lower()}",
            )
        return caller

    async def __call__(self, request: Request) -> Caller:
        return self.authorise(request)


def requires(book: TokenBook, role: Role, *, allow_query: bool = False) -> RoleCheck:
    """A FastAPI dependency admitting callers with at least ``role``."""
    return RoleCheck(book, role, allow_query=allow_query)


class _CheckedRoute(APIRoute):
    """A route whose handler checks the caller before FastAPI solves anything (the read
    routes of whole routers, which need no ``Caller``): same 401 and 403 as the dependency."""

    role_check: ClassVar[RoleCheck]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        check = self.role_check

        async def checked(request: Request) -> Response:
            check.authorise(request)
            return await handler(request)

        return checked


def role_checked_route(book: TokenBook, role: Role) -> type[APIRoute]:
    """An ``APIRouter(route_class=...)`` admitting callers with at least ``role`` to every
    route of the router."""
    return type("RoleCheckedRoute", (_CheckedRoute,), {"role_check": RoleCheck(book, role)})


def _checks(dependant: Dependant) -> Iterator[RoleCheck]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RoleCheck):
            yield dependency.call
        yield from _checks(dependency)


def declare_security(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Adds the token schemes and each guarded operation's ``security`` to ``document``, as
    FastAPI would for ``Security`` dependencies (the schemes' order: bearer, then query)."""
    schemes: dict[str, object] = {}
    for route in iter_route_contexts(routes):
        original = route.original_route
        if not isinstance(original, APIRoute) or not original.include_in_schema:
            continue
        checks = list(_checks(route.dependant))
        if isinstance(original, _CheckedRoute):
            checks.insert(0, original.role_check)
        chosen = list(dict.fromkeys(scheme for check in checks for scheme in check.schemes))
        if not chosen or route.path_format not in document["paths"]:
            continue
        operations = document["paths"][route.path_format]
        for method in route.methods or ():
            operation = operations[method.lower()]
            operation["security"] = [{scheme.scheme_name: []} for scheme in chosen]
        for scheme in chosen:
            schemes[scheme.scheme_name] = jsonable_encoder(
                scheme.model, by_alias=True, exclude_none=True
            )
    if schemes:
        document.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
