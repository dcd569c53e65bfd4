"""A billing system's webhook for the daily hand-off: a tiny HTTP server on a free loopback
port that keeps every POST (headers and body) and can refuse the first ones with 503, as a
receiver that is down would. Used from sync system tests and async unit tests alike (it runs
in a thread of its own)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.ports import free_tcp_port


@dataclass(frozen=True)
class Post:
    headers: dict[str, str]
    body: bytes
    status: int
    """What the receiver answered (503 while refusing)."""


class WebhookReceiver:
    def __init__(self, refuse_first: int = 0) -> None:
        self.refuse_first = refuse_first
        self.posts: list[Post] = []
        self._changed = threading.Condition()
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}/handoff"

    @property
    def accepted(self) -> list[Post]:
        with self._changed:
            return [p for p in self.posts if p.status == 200]

    def wait_for(self, matches: Callable[[list[Post]], bool], timeout: float) -> list[Post]:
        """The posts so far once ``matches`` holds for them (AssertionError after ``timeout``)."""
        with self._changed:
            if not self._changed.wait_for(lambda: matches(list(self.posts)), timeout):
                raise AssertionError(f"webhook: no matching posts in {timeout:.0f} s: {self.posts}")
            return list(self.posts)

    def _keep(self, headers: dict[str, str], body: bytes) -> int:
        with self._changed:
            status = 503 if len(self.posts) < self.refuse_first else 200
            self.posts.append(Post(headers, body, status))
            self._changed.notify_all()
            return status

    @contextmanager
    def running(self) -> Iterator[WebhookReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status = receiver._keep({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, name="webhook", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
