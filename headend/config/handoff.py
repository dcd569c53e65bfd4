"""``[handoff]``: where and when the daily hand-off goes (docs/exports.md, docs/configuration.md).

A folder, a webhook, or both; the local time (site time zone) after which the previous day's
reads and its collection KPIs are handed off. The webhook's credential is never in the file:
``authorization_env`` names the environment variable holding the ``Authorization`` header's
value, read when the service starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from headend.config.errors import ConfigError, KeyProblem
from headend.config.fields import Duration, FileModel

DEFAULT_TIME: Final = "12:00"
_CLOCK_TIME: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class HandoffTable(FileModel):
    folder: str | None = None
    """Where the files are written (atomically); relative to the directory ``headend run``
    starts in."""
    webhook: str | None = None
    """An http(s) URL each file is POSTed to."""
    time: str = DEFAULT_TIME
    """Local site time HH:MM after which the previous day is handed off."""
    authorization_env: str | None = Field(default=None, min_length=1)
    """The environment variable whose value is sent as the webhook's Authorization header."""
    timeout: Annotated[Duration, Field(gt=0)] = 30.0
    """Seconds one webhook POST may take."""
    retry_max: Annotated[Duration, Field(gt=0)] = 600.0
    """The longest wait between two attempts of a failing webhook (the backoff doubles up to it)."""

    @model_validator(mode="after")
    def _usable(self) -> HandoffTable:
        if self.folder is None and self.webhook is None:
            raise KeyProblem("folder", "give a folder, a webhook, or both")
        if self.folder is not None and not self.folder.strip():
            raise KeyProblem("folder", "is empty")
        if _CLOCK_TIME.match(self.time) is None:
            raise KeyProblem("time", f"{self.time!r} is not a local time HH:MM (00:00 .. 23:59)")
        if self.webhook is not None:
            parts = urlsplit(self.webhook)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise KeyProblem("webhook", f"{self.webhook!r} is not an http:// or https:// URL")
        if self.authorization_env is not None and self.webhook is None:
            raise KeyProblem("authorization_env", "needs a webhook to send the header to")
        return self


@dataclass(frozen=True, slots=True)
class HandoffConfig:
    at: time = time(12, 0)
    folder: Path | None = None
    webhook: str | None = None
    authorization_env: str | None = None
    timeout: float = 30.0
    retry_max: float = 600.0


def handoff_config(table: HandoffTable) -> HandoffConfig:
    hours, minutes = table.time.split(":")
    return HandoffConfig(
        at=time(int(hours), int(minutes)),
        folder=None if table.folder is None else Path(table.folder),
        webhook=table.webhook,
        authorization_env=table.authorization_env,
        timeout=table.timeout,
        retry_max=table.retry_max,
    )


def webhook_authorization(
    config: HandoffConfig, environ: Mapping[str, str], source: str
) -> str | None:
    """The Authorization header's value, or None without ``authorization_env``; an unset or
    empty variable is a ``ConfigError`` naming the key (the service refuses to start)."""
    if config.authorization_env is None:
        return None
    value = environ.get(config.authorization_env, "")
    if not value:
        raise ConfigError(
            source,
            "handoff.authorization_env",
            f"environment variable {config.authorization_env} is not set",
        )
    return value
