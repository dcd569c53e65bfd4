"""The head-end's HTTP API (FastAPI), Prometheus ``/metrics`` and the live dashboard.

``create_app(engine, tokens=..., store=...)`` returns an ASGI app; serve it with uvicorn next to
``Engine.run``. See docs/api.md.
"""

from __future__ import annotations

from headend.api.app import create_app
from headend.api.auth import ApiToken, Caller, Role, TokenBook
from headend.api.errors import ApiConfigError
from headend.api.limits import ApiLimits
from headend.api.settings import ApiSettings, parse_api_settings

__all__ = [
    "ApiConfigError",
    "ApiLimits",
    "ApiSettings",
    "ApiToken",
    "Caller",
    "Role",
    "TokenBook",
    "create_app",
    "parse_api_settings",
]
