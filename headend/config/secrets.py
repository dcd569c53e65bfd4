"""Named secrets (API tokens, MQTT requesters): the file names the environment variable, the
deployment holds the secret, so the fleet file can be committed and tokens rotated.

Names and secrets must be unique: two entries of one name could not be told apart in the audit
log, and a shared secret would make two identities one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field

from headend.config.errors import ConfigError, KeyProblem
from headend.config.fields import FileModel


class SecretEntry(FileModel):
    name: str = Field(min_length=1)
    """Who calls: recorded as the user of every action made with this secret."""
    token_env: str = Field(min_length=1)
    """The environment variable that holds the secret."""


def unique_names(entries: Sequence[SecretEntry], key: str) -> None:
    """Raise ``KeyProblem`` at ``<key>[i].name`` for the first name used twice."""
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.name in seen:
            raise KeyProblem((key, index, "name"), f"duplicate name {entry.name!r}")
        seen.add(entry.name)


def read_secrets(
    entries: Sequence[SecretEntry],
    environ: Mapping[str, str],
    *,
    min_length: int,
    source: str,
    key: str,
) -> list[str]:
    """The secret of each entry, from ``environ``; ``ConfigError`` at ``<key>[i].token_env``."""
    found: list[str] = []
    for index, entry in enumerate(entries):
        where = f"{key}[{index}].token_env"
        variable = entry.token_env
        secret = environ.get(variable)
        if secret is None:
            raise ConfigError(source, where, f"environment variable {variable} is not set")
        if len(secret) < min_length:
            raise ConfigError(source, where, f"{variable} holds fewer than {min_length} characters")
        if secret in found:
            raise ConfigError(source, where, f"{variable} holds the same secret as another entry")
        found.append(secret)
    return found
