"""The hardening headers layer: adds what an answer lacks, keeps what a route chose."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from headend.api.security import CONTENT_SECURITY_POLICY, SecurityHeaders


async def _answer_with_own_frame_policy(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain"), (b"x-frame-options", b"SAMEORIGIN")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_missing_headers_are_added_once_and_a_routes_own_is_kept() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await SecurityHeaders(_answer_with_own_frame_policy)(scope, receive, send)
    names = [name for name, _ in sent[0]["headers"]]
    headers = dict(sent[0]["headers"])
    assert len(names) == len(set(names)), names
    assert headers[b"x-frame-options"] == b"SAMEORIGIN"
    assert headers[b"content-security-policy"] == CONTENT_SECURITY_POLICY.encode()
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"referrer-policy"] == b"no-referrer"
    assert headers[b"content-type"] == b"text/plain"
    assert sent[1]["body"] == b"ok"
