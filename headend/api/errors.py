"""Errors of the HTTP API package.

``ApiConfigError`` is ours (a token list that cannot work); everything a client or a meter does
wrong is answered as an HTTP status by ``problems.py`` and never raised out of the app. Both
derive from the head-end's one root (the tree is in ``headend/errors.py``)::

    HeadendError
    ├── ApiConfigError (ValueError)   the [api] settings cannot work; names the token entry
    └── InvalidField                  api.problems: answered as 422 with ``location`` as loc
"""

from __future__ import annotations

from headend.errors import HeadendError


class ApiConfigError(HeadendError, ValueError):
    """The API was configured in a way that cannot work; the message names the token entry."""
