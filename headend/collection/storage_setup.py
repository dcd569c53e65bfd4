"""Open the storage the fleet config asks for: embedded SQLite, or InfluxDB behind the outbox.

The ``[storage]`` table:

- ``kind = "embedded"`` (default): ``path`` (default ``<data_dir>/headend.sqlite``), optional
  ``max_size_mb`` (a disk budget for the file; past it writes are refused as on a full disk).
- ``kind = "influxdb-v2"``: ``url``, ``org``, ``bucket``, ``token_env`` (the name of the
  environment variable holding the token: secrets never sit in the config file).
- ``kind = "influxdb-v1"``: ``url``, ``database``, optional ``username``, ``password_env``.
- for both Influx kinds: ``outbox`` (default ``<data_dir>/outbox.sqlite``) and
  ``outbox_capacity_mb`` (default 1024). Every reading is on local disk in the outbox before
  collection moves on; the outbox replays to the server in order when it is reachable.
- for every kind: ``buffer_records`` (default 100000), the most records held in RAM while the
  store refuses writes (disk or budget full), and ``overflow`` (``"drop_oldest"``, the default,
  or ``"drop_newest"``), which of them are given up past that. Docs: docs/storage.md.

Billing reads go to the embedded store, or over InfluxQL (``/query``) to the server, which
1.x serves and 2.x/3.x serve through their v1-compatible endpoint (bucket = database).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from headend.collection.writer import Overflow, WriterLimits
from headend.config.fields import Table
from storage.billing import BillingSource
from storage.embedded import SqliteStore
from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.influxql import InfluxQLBillingSource
from storage.outbox import OutboxStats, open_outbox
from storage.sink import LineSink, Sink

KINDS = ("embedded", "influxdb-v2", "influxdb-v1")


@dataclass(frozen=True, slots=True)
class StorageStack:
    sink: Sink
    """Where the engine writes (the store itself, or the outbox in front of the server)."""
    billing: BillingSource
    outbox_stats: Callable[[], OutboxStats] | None
    describe: str
    writer_limits: WriterLimits = field(default_factory=WriterLimits)
    """How much the engine's writer may hold in RAM while the store refuses writes."""


@asynccontextmanager
async def open_storage(
    settings: Mapping[str, Any],
    source: str,
    *,
    data_dir: Path,
    environ: Mapping[str, str] = os.environ,
) -> AsyncIterator[StorageStack]:
    table = Table(source, "storage", settings)
    kind = table.choice("kind", KINDS, "embedded")
    default = WriterLimits()
    limits = WriterLimits(
        limit=table.integer("buffer_records", default.limit, minimum=1),
        overflow=Overflow(
            table.choice("overflow", tuple(o.value for o in Overflow), default.overflow.value)
        ),
    )
    if kind == "embedded":
        path = Path(table.text("path", str(data_dir / "headend.sqlite")))
        max_mb = table.number("max_size_mb", 0.0, minimum=0.0)
        table.reject_unknown()
        path.parent.mkdir(parents=True, exist_ok=True)
        max_bytes = int(max_mb * 1024 * 1024) if max_mb else None
        store = await SqliteStore.open(path, max_bytes=max_bytes)
        try:
            yield StorageStack(store, store, None, f"embedded store {path}", limits)
        finally:
            await store.aclose()
        return

    url = _server_url(table, "url")
    outbox_path = Path(table.text("outbox", str(data_dir / "outbox.sqlite")))
    capacity = table.integer("outbox_capacity_mb", 1024, minimum=1) * 1024 * 1024
    target: LineSink
    if kind == "influxdb-v2":
        bucket = table.text("bucket")
        token = _secret(table, "token_env", environ)
        target = InfluxV2Sink(url, bucket=bucket, org=table.text("org", "-"), token=token)
        billing: BillingSource = InfluxQLBillingSource(url, database=bucket, token=token)
        where = f"InfluxDB v2 {url} bucket {bucket}"
    else:
        database = table.text("database")
        username = table.optional_text("username")
        password = _secret(table, "password_env", environ) if "password_env" in settings else None
        target = InfluxV1Sink(url, database=database, username=username, password=password)
        billing = InfluxQLBillingSource(
            url, database=database, username=username, password=password
        )
        where = f"InfluxDB v1 {url} database {database}"
    table.reject_unknown()
    outbox_path.parent.mkdir(parents=True, exist_ok=True)
    async with open_outbox(outbox_path, target, capacity_bytes=capacity) as outbox:
        yield StorageStack(
            outbox, billing, outbox.stats, f"{where} via outbox {outbox_path}", limits
        )


def _server_url(table: Table, key: str) -> str:
    """An http(s) URL with a host and a valid port, refused at start with the key named:
    aiohttp would only fail at the first write, leaving every reading in the outbox."""
    url = table.text(key)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or not a number
    except ValueError as exc:
        raise table.error(key, f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise table.error(key, f"expected http://host:port or https://host:port, got {url!r}")
    if parts.port == 0:
        raise table.error(key, f"{url!r}: port must be 1-65535")
    return url


def _secret(table: Table, key: str, environ: Mapping[str, str]) -> str:
    name = table.text(key)
    value = environ.get(name)
    if not value:
        raise table.error(key, f"environment variable {name} is not set")
    return value
