"""Billing reads over the v1 /query endpoint in InfluxQL.

InfluxQL is the one query language that InfluxDB 1.x serves and that 2.x and 3.x still accept on
their v1-compatible endpoint, so one implementation covers every server we write to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import aiohttp

from storage.billing import StoredPoint, parse_quality
from storage.errors import QueryError, SinkUnavailable
from storage.influx_v1 import v1_auth_headers
from storage.line_protocol import from_ns, timestamp_ns
from storage.records import ReadingKind
from storage.retry import error_for_status, parse_retry_after
from storage.schema import MEASUREMENT_BY_KIND

_METERS_PER_QUERY: Final = 200


def quote_literal(text: str) -> str:
    """An InfluxQL single-quoted string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _any_of(tag: str, values: Sequence[str]) -> str:
    return "(" + " OR ".join(f"{quote_identifier(tag)} = {quote_literal(v)}" for v in values) + ")"


class InfluxQLBillingSource:
    """BillingSource reading from an InfluxDB database (or 2.x/3.x bucket mapped to one)."""

    def __init__(
        self,
        url: str,
        *,
        database: str,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._url = url.rstrip("/")
        self._database = database
        self._prefix = f"{quote_identifier(retention_policy)}." if retention_policy else ""
        self._headers = v1_auth_headers(username, password, token)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._where = f"InfluxQL {self._url} database {database}"

    async def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run one statement; returns its series (empty when nothing matched)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        params = {"db": self._database, "q": influxql, "epoch": "ns"}
        try:
            async with self._session.post(
                f"{self._url}/query", data=params, headers=self._headers
            ) as response:
                # 400 carries InfluxDB's own {"error": ...} for a bad query: read it below.
                if response.status in (401, 403, 429) or response.status >= 500:
                    raise error_for_status(
                        response.status,
                        await response.text(),
                        self._where,
                        parse_retry_after(response.headers.get("Retry-After")),
                    )
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SinkUnavailable(f"{self._where}: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:
            raise QueryError(f"{self._where}: response is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise QueryError(f"{self._where}: unexpected response {body!r:.200}")
        if "error" in body:
            raise QueryError(f"{self._where}: {body['error']} (query: {influxql})")
        results = body.get("results") or [{}]
        result = results[0]
        if "error" in result:
            raise QueryError(f"{self._where}: {result['error']} (query: {influxql})")
        series: list[dict[str, Any]] = result.get("series") or []
        return series

    async def meters_of_transformer(self, transformer: str) -> list[str]:
        """Meters with energy or frozen points tagged with this transformer."""
        measurements = ",".join(
            self._prefix + quote_identifier(MEASUREMENT_BY_KIND[kind])
            for kind in (ReadingKind.FROZEN, ReadingKind.ENERGY)
        )
        series = await self.query(
            f'SHOW TAG VALUES FROM {measurements} WITH KEY = "meter" '
            f'WHERE "transformer" = {quote_literal(transformer)}'
        )
        meters = {str(row[1]) for one in series for row in one.get("values") or []}
        return sorted(meters)

    async def stored_points(
        self,
        kind: ReadingKind,
        meters: Sequence[str],
        quantities: Sequence[str],
        start: datetime,
        end: datetime,
    ) -> list[StoredPoint]:
        """Points of one kind, ``start <= t < end``, queried a few hundred meters at a time."""
        if not meters or not quantities:
            return []
        measurement = self._prefix + quote_identifier(MEASUREMENT_BY_KIND[kind])
        points: list[StoredPoint] = []
        for first in range(0, len(meters), _METERS_PER_QUERY):
            group = meters[first : first + _METERS_PER_QUERY]
            series = await self.query(
                f'SELECT "value", "quality", "reason" FROM {measurement} '
                f"WHERE {_any_of('meter', group)} AND {_any_of('quantity', quantities)} "
                f"AND time >= {timestamp_ns(start)} AND time < {timestamp_ns(end)} "
                'GROUP BY "meter", "quantity", "unit"'
            )
            for one in series:
                points.extend(self._points_of(one))
        return points

    def _points_of(self, series: dict[str, Any]) -> list[StoredPoint]:
        tags = series.get("tags") or {}
        columns: list[str] = series.get("columns") or []
        try:
            time_at = columns.index("time")
            value_at = columns.index("value")
            quality_at = columns.index("quality")
            reason_at = columns.index("reason")
        except ValueError as exc:
            raise QueryError(f"{self._where}: series without {exc}: {columns}") from exc
        meter = str(tags.get("meter", ""))
        quantity = str(tags.get("quantity", ""))
        where = f"{self._where} series {meter}/{quantity}"
        return [
            StoredPoint(
                meter=meter,
                quantity=quantity,
                timestamp=from_ns(int(row[time_at])),
                value=None if row[value_at] is None else float(row[value_at]),
                unit=str(tags.get("unit", "")),
                quality=parse_quality(row[quality_at], where),
                reason=row[reason_at],
            )
            for row in series.get("values") or []
        ]

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
