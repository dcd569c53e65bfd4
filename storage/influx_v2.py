"""InfluxDB v2 write API (/api/v2/write) through influxdb-client's async client.

Works with InfluxDB 2.x, 3.x and 1.8+ (v2 compatibility endpoint) and VictoriaMetrics. We send
pre-formatted line protocol (building influxdb-client ``Point`` objects costs ~6x more) and gzip
it ourselves at a low level, because the client's built-in gzip uses level 9, which on a small
box costs more than it saves. Retries are ours too: the async client has none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService

from storage.errors import SinkUnavailable
from storage.pipeline import BatchedWriter
from storage.retry import RetryPolicy, call_with_retries, error_for_status, parse_retry_after
from storage.schema import Record

log = logging.getLogger(__name__)


class InfluxV2Sink:
    """Writes records to one bucket over the v2 API, in batches, with gzip and retries."""

    def __init__(
        self,
        url: str,
        *,
        bucket: str,
        org: str = "-",
        token: str = "",
        batch_size: int = 5000,
        gzip_level: int | None = 1,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._batches = BatchedWriter(
            "InfluxV2Sink", self._send, batch_size=batch_size, gzip_level=gzip_level
        )
        self._url = url.rstrip("/")
        self._bucket = bucket
        self._org = org
        self._content_encoding = "identity" if gzip_level is None else "gzip"
        self._retry = retry or RetryPolicy()
        self._token = token
        self._timeout_ms = int(timeout_s * 1000)
        self._client: InfluxDBClientAsync | None = None
        self._service: WriteService | None = None
        self._where = f"InfluxDB v2 {self._url} bucket {bucket}"

    async def write(self, batch: Sequence[Record]) -> None:
        """Encode and write in chunks, in order (see ``BatchedWriter.write`` on partial writes)."""
        await self._batches.write(batch)

    async def write_lines(self, chunks: Sequence[bytes]) -> None:
        """Write encoded lines as they are, ``batch_size`` chunks per request, in order."""
        await self._batches.write_lines(chunks)

    async def _send(self, body: bytes) -> None:
        await call_with_retries(partial(self._post, body), self._retry, self._where)

    def _write_service(self) -> WriteService:
        # Created on first use: the client opens an aiohttp session, which wants a running loop.
        if self._service is None:
            self._client = InfluxDBClientAsync(
                url=self._url, token=self._token, org=self._org, timeout=self._timeout_ms
            )
            self._service = WriteService(self._client.api_client)  # type: ignore[no-untyped-call]
        return self._service

    async def _post(self, body: bytes) -> None:
        service = self._write_service()
        try:
            await service.post_write_async(  # type: ignore[no-untyped-call]
                org=self._org,
                bucket=self._bucket,
                body=body,
                precision="ns",
                content_encoding=self._content_encoding,
                content_type="text/plain; charset=utf-8",
                async_req=False,
                _return_http_data_only=False,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 0:
                raise SinkUnavailable(f"{self._where}: {exc.reason}") from exc
            headers: Mapping[str, str] = exc.headers or {}
            raise error_for_status(
                status,
                str(exc.body or exc.reason or ""),
                self._where,
                parse_retry_after(headers.get("Retry-After")),
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{self._where}: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]
            self._client = None
            self._service = None
