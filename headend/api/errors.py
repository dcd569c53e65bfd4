"""Errors of the HTTP API package.

``ApiConfigError`` is ours (a token list that cannot work); everything a client or a meter does
wrong is answered as an HTTP status by ``problems.py`` and never raised out of the app.
"""

from __future__ import annotations


class ApiError(Exception):
    """Root of the API package's own errors."""


class ApiConfigError(ApiError, ValueError):
    """The API was configured in a way that cannot work; the message names the token entry."""
