"""The ``[security]`` table: which security module (密码机) seals secured control orders.

```toml
[security]
module = "software"            # or "package.module:Class", the site's vendor adapter
key_env = "HEADEND_ESAM_MASTER_KEY"   # software only: 32 hex digits, from the environment
key_version = 1
[security.options]             # keyword arguments of a vendor class (host, port, ...)
```

The key is never in the file (like API tokens, ``token_env``); a vendor class gets
``key_version`` and the options and must have the methods of
``headend.drivers.dlt645.security_module.SecurityModule``. The module is built when the service
starts, so a missing variable or a class that does not import stops ``headend run`` with an
error naming the key.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from headend.config.errors import ConfigError
from headend.config.fields import FileModel
from headend.drivers.dlt645.security_module import SecurityModule, SoftwareSecurityModule

SOFTWARE = "software"


class SecurityTable(FileModel):
    module: str = Field(default=SOFTWARE, min_length=1)
    key_env: str | None = None
    key_version: int = Field(default=1, ge=0, le=255)
    options: dict[str, Any] = Field(default_factory=dict)


def build_security_module(
    table: SecurityTable, environ: Mapping[str, str], source: str
) -> SecurityModule:
    """The module ``table`` names; ``ConfigError`` at the key that is wrong."""
    if table.module == SOFTWARE:
        if not table.key_env:
            raise ConfigError(source, "security.key_env", "the software module needs key_env")
        text = environ.get(table.key_env, "")
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise ConfigError(
                source,
                "security.key_env",
                f"environment variable {table.key_env} must hold the master key as 32 hex digits",
            )
        return SoftwareSecurityModule(key, table.key_version)
    module_name, _, class_name = table.module.partition(":")
    if not class_name:
        raise ConfigError(
            source, "security.module", f"{table.module!r}: 'software' or 'package.module:Class'"
        )
    try:
        factory = getattr(importlib.import_module(module_name), class_name)
        module = factory(key_version=table.key_version, **table.options)
    except Exception as exc:  # any import or constructor failure of a site's plug-in
        raise ConfigError(
            source, "security.module", f"{table.module!r}: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(module, SecurityModule):
        raise ConfigError(
            source,
            "security.module",
            f"{table.module!r} lacks key_version, authenticate or seal (SecurityModule)",
        )
    return module
