"""The ``[api]`` table of the fleet TOML: where to listen and who may call.

Secrets never sit in the file: each token names the environment variable holding it
(``token_env``), so the fleet file can be committed and the tokens rotated by the deployment.

```toml
[api]
listen = "0.0.0.0:8080"
max_body_bytes = 65536    # larger request bodies are refused with 413 (default 64 KiB)
max_stream_clients = 32   # live dashboard streams at once; more get 503 + Retry-After

[[api.tokens]]
name = "billing"          # recorded as the user of every action made with this token
role = "reader"           # reader | operator | admin
token_env = "HEADEND_TOKEN_BILLING"
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from headend.api.auth import MIN_TOKEN_LENGTH, ApiToken, Role
from headend.api.limits import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_STREAM_CLIENTS,
    ApiLimits,
)
from headend.config.fields import Table, named_secrets

DEFAULT_LISTEN = "127.0.0.1:8080"
ROLES = tuple(role.name.lower() for role in Role)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str
    port: int
    tokens: tuple[ApiToken, ...]
    limits: ApiLimits = DEFAULT_LIMITS


def parse_api_settings(table: Table, environ: Mapping[str, str]) -> ApiSettings:
    """Validate ``[api]``; errors name the file and key (``fleet.toml: api.tokens[1].role``)."""
    listen = table.text("listen", DEFAULT_LISTEN)
    host, _, port_text = listen.rpartition(":")
    # Port 0 asks the kernel for a free port (the demo and tests use it).
    if not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise table.error("listen", f"expected host:port, got {listen!r}")
    limits = ApiLimits(
        max_body_bytes=table.integer("max_body_bytes", DEFAULT_MAX_BODY_BYTES, minimum=0),
        max_stream_clients=table.integer(
            "max_stream_clients", DEFAULT_MAX_STREAM_CLIENTS, minimum=1
        ),
    )
    tokens: list[ApiToken] = []
    for entry, name, secret in named_secrets(
        table.tables("tokens"), environ, min_length=MIN_TOKEN_LENGTH
    ):
        role = Role[entry.choice("role", ROLES).upper()]
        entry.reject_unknown()
        tokens.append(ApiToken(name, role, secret))
    table.reject_unknown()
    return ApiSettings(host.strip("[]"), int(port_text), tuple(tokens), limits)
