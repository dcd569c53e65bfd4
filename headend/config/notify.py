"""``[notify]``: where incident notifications go (webhooks) and how often.

Why in the fleet file: who is told, and how loudly, is a site's policy. A robot URL carries
its key, so it may come from the environment (``url_env``) instead of the file. The table is
checked when the file loads; an unknown key, a bad format or a missing URL names its key
(``notify.webhooks[0].url: give url or url_env``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from headend.config.errors import PATTERN_PROBLEMS, KeyProblem
from headend.config.fields import FileModel

URL_PATTERN = r"^https?://"
PATTERN_PROBLEMS[URL_PATTERN] = "expected an http:// or https:// URL"  # never echo its key
WebhookFormat = Literal["generic", "wecom", "dingtalk"]
Severity = Literal["critical", "major", "minor", "info"]


class WebhookTable(FileModel):
    name: str = Field(min_length=1)
    url: str | None = Field(default=None, pattern=URL_PATTERN)
    url_env: str | None = Field(default=None, min_length=1)
    format: WebhookFormat = "generic"
    """``generic``: the incident JSON; ``wecom`` / ``dingtalk``: the robots' ``msgtype`` text."""
    per_minute: float = Field(default=6.0, gt=0)
    """At most this many notifications a minute to this destination (a token bucket)."""
    burst: int = Field(default=3, ge=1)
    retries: int = Field(default=3, ge=0, le=20)
    backoff_s: float = Field(default=2.0, gt=0)
    """First retry within this, the bound doubling each time (full jitter)."""
    timeout_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookTable:
        if (self.url is None) == (self.url_env is None):
            raise KeyProblem("url", "give exactly one of url and url_env")
        return self


class NotifyTable(FileModel):
    min_severity: Severity = "major"
    """Incidents below this severity are not notified."""
    queue: int = Field(default=256, ge=1)
    """Notifications waiting at most; more are dropped (counted), the engine never waits."""
    webhooks: tuple[WebhookTable, ...] = Field(default=(), strict=False)
