"""The API's settings: the ``[api]`` table (checked when the file loads, ``headend.config.api``)
with each token's secret read from the environment when the service starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from headend.api.auth import MIN_TOKEN_LENGTH, ApiToken, Role
from headend.api.limits import DEFAULT_LIMITS, ApiLimits
from headend.config.api import ApiTable
from headend.config.secrets import read_secrets


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str
    port: int
    tokens: tuple[ApiToken, ...]
    limits: ApiLimits = DEFAULT_LIMITS


def parse_api_settings(table: ApiTable, environ: Mapping[str, str], source: str) -> ApiSettings:
    """The settings the service runs with; a token whose variable is unset, short or shared
    with another is a ``ConfigError`` naming the file and key (``api.tokens[1].token_env``)."""
    secrets = read_secrets(
        table.tokens, environ, min_length=MIN_TOKEN_LENGTH, source=source, key="api.tokens"
    )
    tokens = tuple(
        ApiToken(entry.name, Role[entry.role.upper()], secret)
        for entry, secret in zip(table.tokens, secrets, strict=True)
    )
    limits = ApiLimits(
        max_body_bytes=table.max_body_bytes,
        max_stream_clients=table.max_stream_clients,
        max_archive_bytes=table.max_archive_bytes,
    )
    return ApiSettings(table.host, table.port, tokens, limits)
