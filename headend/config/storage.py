"""The ``[storage]`` table, checked when the file loads (not when the service opens storage).

- ``kind = "embedded"`` (default): ``path`` (default ``<data_dir>/headend.sqlite``), optional
  ``max_size_mb`` (a disk budget for the file; past it writes are refused as on a full disk).
- ``kind = "influxdb-v2"``: ``url``, ``org``, ``bucket``, ``token_env`` (the name of the
  environment variable holding the token: secrets never sit in the config file).
- ``kind = "influxdb-v1"``: ``url``, ``database``, optional ``username``, ``password_env``.
- for both Influx kinds: ``outbox`` (default ``<data_dir>/outbox.sqlite``) and
  ``outbox_capacity_mb`` (default 1024).
- for every kind: ``buffer_records`` (default 100000), the most records held in RAM while the
  store refuses writes, and ``overflow`` (``"drop_oldest"``, the default, or ``"drop_newest"``).

``headend.collection.storage_setup`` opens what these describe (docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field

from headend.config.fields import FileModel, Number

DEFAULT_BUFFER_RECORDS = 100_000
"""As ``headend.collection.writer.WriterLimits``: records held in RAM while storage refuses."""


def _server_url(url: str) -> str:
    """An http(s) URL with a host and a valid port: aiohttp would only fail at the first write,
    leaving every reading in the outbox."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or not a number
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected http://host:port or https://host:port, got {url!r}")
    if parts.port == 0:
        raise ValueError(f"{url!r}: port must be 1-65535")
    return url


ServerUrl = Annotated[str, AfterValidator(_server_url)]
EnvName = Annotated[str, Field(min_length=1)]
"""The name of an environment variable that holds a secret."""


class _Buffer(FileModel):
    buffer_records: int = Field(default=DEFAULT_BUFFER_RECORDS, ge=1)
    overflow: Literal["drop_oldest", "drop_newest"] = "drop_oldest"


class EmbeddedStorage(_Buffer):
    kind: Literal["embedded"] = "embedded"
    path: str | None = None
    """Default: ``<data_dir>/headend.sqlite``."""
    max_size_mb: Number = Field(default=0.0, ge=0.0)
    """Disk budget of the file; 0 means none."""


class _Server(_Buffer):
    url: ServerUrl
    outbox: str | None = None
    """Default: ``<data_dir>/outbox.sqlite``."""
    outbox_capacity_mb: int = Field(default=1024, ge=1)


class InfluxV2Storage(_Server):
    kind: Literal["influxdb-v2"]
    bucket: str
    org: str = "-"
    token_env: EnvName


class InfluxV1Storage(_Server):
    kind: Literal["influxdb-v1"]
    database: str
    username: str | None = None
    password_env: EnvName | None = None


def _embedded_by_default(table: Any) -> Any:
    if isinstance(table, Mapping) and "kind" not in table:
        return {"kind": "embedded", **table}
    return table


StorageConfig = Annotated[
    EmbeddedStorage | InfluxV2Storage | InfluxV1Storage,
    Field(discriminator="kind"),
    BeforeValidator(_embedded_by_default),
]
"""``[storage]``, told apart by ``kind``: each kind takes its own keys only."""
