"""The ``[api]`` table of the fleet TOML: where to listen and who may call, checked at load.

Secrets never sit in the file: each token names the environment variable holding it
(``token_env``), so the fleet file can be committed and the tokens rotated by the deployment.
``headend.api.settings`` reads those variables when the service starts.

```toml
[api]
listen = "0.0.0.0:8080"
max_body_bytes = 65536    # larger request bodies are refused with 413 (default 64 KiB)
max_archive_bytes = 4194304  # an archive upload (POST /api/archive/import|diff), 4 MiB
max_stream_clients = 32   # live dashboard streams at once; more get 503 + Retry-After

[[api.tokens]]
name = "billing"          # recorded as the user of every action made with this token
role = "reader"           # reader | operator | admin
token_env = "HEADEND_TOKEN_BILLING"
```
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from headend.config.fields import FileModel
from headend.config.secrets import SecretEntry, unique_names

DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
"""The largest body any route takes (a meter to add) is well under 1 KiB."""
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 1024 * 1024
"""An archive file upload: some 30,000 meters as CSV, far more as XLSX."""
DEFAULT_MAX_STREAM_CLIENTS = 32
ROLES = ("reader", "operator", "admin")
"""``headend.api.auth.Role``, lower case (a test keeps the two equal)."""


def _listen(listen: str) -> str:
    host, _, port_text = listen.rpartition(":")
    # Port 0 asks the kernel for a free port (the demo and tests use it).
    if not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"expected host:port, got {listen!r}")
    return listen


class TokenTable(SecretEntry):
    role: Literal["reader", "operator", "admin"]


class ApiTable(FileModel):
    listen: Annotated[str, AfterValidator(_listen)] = DEFAULT_LISTEN
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=0)
    max_archive_bytes: int = Field(default=DEFAULT_MAX_ARCHIVE_BYTES, ge=0)
    max_stream_clients: int = Field(default=DEFAULT_MAX_STREAM_CLIENTS, ge=1)
    tokens: tuple[TokenTable, ...] = Field(default=(), strict=False)

    @model_validator(mode="after")
    def _unique_token_names(self) -> ApiTable:
        unique_names(self.tokens, "tokens")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
