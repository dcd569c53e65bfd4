"""Browser-facing hardening headers on every answer: the dashboard and ``/docs`` load only
their own scripts, styles and data (no inline scripts or styles; Swagger UI sets styles
through the DOM, which CSP allows), no other site may frame them (clickjacking of the relay
buttons), browsers do not guess content types, and no URL (which may carry the stream token)
leaks in a ``Referer``.

A plain ASGI middleware rather than ``BaseHTTPMiddleware``: it only edits the response start,
so the live event stream passes through unbuffered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


_RAW_HEADERS = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in (("Content-Security-Policy", CONTENT_SECURITY_POLICY), *COMMON_HEADERS)
)
"""Encoded once: every answer gets them, and editing through ``MutableHeaders`` copied and
rescanned the header list for each."""


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(raw for raw in _RAW_HEADERS if raw[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
