"""InfluxDB v1 write API (/write) for 1.x servers, also served by 2.x/3.x and VictoriaMetrics.

Plain aiohttp: the v1 endpoint takes the database and retention policy as query parameters and
either user/password or a token, which influxdb-client's v2 write call cannot express.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

import aiohttp

from storage.errors import SinkUnavailable
from storage.pipeline import BatchedWriter
from storage.retry import RetryPolicy, call_with_retries, error_for_status, parse_retry_after
from storage.schema import Record

log = logging.getLogger(__name__)


def v1_auth_headers(
    username: str | None, password: str | None, token: str | None
) -> dict[str, str]:
    """Headers for the v1 API: a 2.x/3.x token, or 1.x basic credentials, or nothing."""
    if token:
        return {"Authorization": f"Token {token}"}
    if username is not None:
        return {"Authorization": aiohttp.BasicAuth(username, password or "").encode()}
    return {}


class InfluxV1Sink:
    """Writes records to one database (and retention policy) over /write."""

    def __init__(
        self,
        url: str,
        *,
        database: str,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        batch_size: int = 5000,
        gzip_level: int | None = 1,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._batches = BatchedWriter(
            "InfluxV1Sink", self._send, batch_size=batch_size, gzip_level=gzip_level
        )
        self._url = url.rstrip("/")
        self._params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._params["rp"] = retention_policy
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        self._headers.update(v1_auth_headers(username, password, token))
        if gzip_level is not None:
            self._headers["Content-Encoding"] = "gzip"
        self._retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._where = f"InfluxDB v1 {self._url} database {database}"

    async def write(self, batch: Sequence[Record]) -> None:
        """Encode and write in chunks, in order (see ``BatchedWriter.write`` on partial writes)."""
        await self._batches.write(batch)

    async def write_lines(self, chunks: Sequence[bytes]) -> None:
        """Write encoded lines as they are, ``batch_size`` chunks per request, in order."""
        await self._batches.write_lines(chunks)

    async def _send(self, body: bytes) -> None:
        await call_with_retries(partial(self._post, body), self._retry, self._where)

    async def _post(self, body: bytes) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                f"{self._url}/write", params=self._params, data=body, headers=self._headers
            ) as response:
                if response.status in (200, 204):
                    return
                text = await response.text()
                raise error_for_status(
                    response.status,
                    text,
                    self._where,
                    parse_retry_after(response.headers.get("Retry-After")),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{self._where}: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
