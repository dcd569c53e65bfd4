"""The one exception root of the protocols package, split by who broke the protocol.

Callers (bus workers, simulators) react differently to the two halves: a ``LocalProtocolError``
is a bug or bad configuration on our side and retrying will not help; a ``RemoteProtocolError``
is the peer's (or the line's) fault and is counted, logged on state change and retried.
The naming follows h11, the model for our sans-IO codecs.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by a codec in ``protocols``."""


class LocalProtocolError(ProtocolError, ValueError):
    """We asked a codec to produce something the protocol cannot carry (bad input, our bug)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break the protocol (noise, a faulty or foreign device)."""
