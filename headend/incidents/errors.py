"""What can go wrong with incidents: an unknown id, an acknowledgement too late, bad config."""

from __future__ import annotations

from headend.errors import HeadendError


class IncidentError(HeadendError):
    """Root of the incidents' errors."""


class UnknownIncident(IncidentError, KeyError):
    """A request names an incident the book never had; ``incident`` is the id asked for."""

    def __init__(self, incident: str) -> None:
        self.incident = incident
        self.message = f"unknown incident {incident!r}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class IncidentCleared(IncidentError):
    """An acknowledgement of an incident that has already cleared (nothing to take in hand)."""

    def __init__(self, incident: str) -> None:
        self.incident = incident
        super().__init__(f"incident {incident!r} has cleared: it cannot be acknowledged")


class IncidentStoreError(IncidentError):
    """The incidents file cannot be read or written (``.path``)."""
