"""Open the storage the fleet config asks for: embedded SQLite, or InfluxDB behind the outbox.

The ``[storage]`` table is checked when the file loads (``headend.config.storage``); here only
the secret is read from the environment. Every reading is on local disk in the outbox before
collection moves on; the outbox replays to the server in order when it is reachable.

Billing reads go to the embedded store, or over InfluxQL (``/query``) to the server, which
1.x serves and 2.x/3.x serve through their v1-compatible endpoint (bucket = database).
Docs: docs/storage.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from headend.collection.writer import Overflow, WriterLimits
from headend.config.errors import ConfigError
from headend.config.storage import (
    EmbeddedStorage,
    InfluxV1Storage,
    InfluxV2Storage,
    StorageConfig,
)
from storage.billing import BillingSource
from storage.embedded import SqliteStore
from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.influxql import InfluxQLBillingSource
from storage.outbox import OutboxStats, open_outbox
from storage.sink import LineSink, Sink


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
    settings: StorageConfig,
    source: str,
    *,
    data_dir: Path,
    environ: Mapping[str, str] = os.environ,
) -> AsyncIterator[StorageStack]:
    limits = WriterLimits(limit=settings.buffer_records, overflow=Overflow(settings.overflow))
    if isinstance(settings, EmbeddedStorage):
        path = Path(settings.path or data_dir / "headend.sqlite")
        path.parent.mkdir(parents=True, exist_ok=True)
        max_bytes = int(settings.max_size_mb * 1024 * 1024) if settings.max_size_mb else None
        store = await SqliteStore.open(path, max_bytes=max_bytes)
        try:
            yield StorageStack(store, store, None, f"embedded store {path}", limits)
        finally:
            await store.aclose()
        return

    url = settings.url
    outbox_path = Path(settings.outbox or data_dir / "outbox.sqlite")
    capacity = settings.outbox_capacity_mb * 1024 * 1024
    target: LineSink
    if isinstance(settings, InfluxV2Storage):
        bucket = settings.bucket
        token = str(storage_secret(settings, source, environ))
        target = InfluxV2Sink(url, bucket=bucket, org=settings.org, token=token)
        billing: BillingSource = InfluxQLBillingSource(url, database=bucket, token=token)
        where = f"InfluxDB v2 {url} bucket {bucket}"
    else:
        database = settings.database
        username = settings.username
        password = storage_secret(settings, source, environ)
        target = InfluxV1Sink(url, database=database, username=username, password=password)
        billing = InfluxQLBillingSource(
            url, database=database, username=username, password=password
        )
        where = f"InfluxDB v1 {url} database {database}"
    outbox_path.parent.mkdir(parents=True, exist_ok=True)
    async with open_outbox(outbox_path, target, capacity_bytes=capacity) as outbox:
        yield StorageStack(
            outbox, billing, outbox.stats, f"{where} via outbox {outbox_path}", limits
        )


def storage_secret(
    settings: StorageConfig, source: str, environ: Mapping[str, str] = os.environ
) -> str | None:
    """The InfluxDB token (v2) or password (v1) from the variable the table names; None where
    the table names none. An unset variable is a ``ConfigError`` naming the key."""
    if isinstance(settings, InfluxV2Storage):
        key, name = "token_env", settings.token_env
    elif isinstance(settings, InfluxV1Storage) and settings.password_env is not None:
        key, name = "password_env", settings.password_env
    else:
        return None
    value = environ.get(name)
    if not value:
        raise ConfigError(source, f"storage.{key}", f"environment variable {name} is not set")
    return value
