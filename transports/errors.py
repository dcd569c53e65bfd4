"""Transport errors: one root, split by whose fault it is.

Bus workers need three decisions from an error: fix the configuration (``InvalidTransportUrl``),
retry the open later (``OpenFailed``), or reconnect and fail the request in flight
(``ConnectionLost``). ``TransportUsageError`` is a bug on our side and must not be retried.

Every exception class defined in ``transports`` derives from ``TransportError``
(tests/test_errors.py checks it); they all live here. The tree (docs/errors.md says what each
means to an operator)::

    TransportError
    ├── InvalidTransportUrl (ValueError)   a malformed URL or setting; names the URL and the part
    ├── TransportUsageError                we broke the contract: a bug, never retried
    │   └── TransportNotOpen               never opened, or closed by us
    ├── OpenFailed                         missing device, refused, timed out: retry the open
    └── ConnectionLost                     the peer or the line went away: reconnect
"""

from __future__ import annotations


class TransportError(Exception):
    """Root of every error raised by ``transports``."""


class InvalidTransportUrl(TransportError, ValueError):
    """A transport URL or setting is malformed; the message names the URL and the bad part."""


class TransportUsageError(TransportError):
    """We broke the contract (read before open, write after close): a bug, never retried."""


class TransportNotOpen(TransportUsageError):
    """The transport is not open (never opened, or closed by us)."""


class OpenFailed(TransportError):
    """The port or gateway could not be opened: missing device, refused, timed out."""


class ConnectionLost(TransportError):
    """The peer or the line went away: the gateway closed the socket, the adapter vanished.

    Bytes received before the loss are still returned by ``read``; this is raised only once
    they are drained, so a reply that arrived just before the close is not thrown away.
    """
