"""What a read plan gave: the decoded points, and the requests the peer failed.

A meter that refuses one block (a firmware without the energy block at the mapped address, a
register range it does not implement) still answers the others; the caller decides what a
partial read means (the collector stores what was read, ``headend read modbus`` exits
"partial"), so the outcome keeps both halves instead of raising on the first failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from headend.drivers.modbus.errors import ModbusPeerError
from protocols.modbus import PointResult, ReadRequest


@dataclass(frozen=True, slots=True)
class RequestFailure:
    """One planned request the peer did not answer usefully, and why."""

    request: ReadRequest
    error: ModbusPeerError

    def describe(self) -> str:
        """``holding 0x401E..0x4029 (energy_active_import_total, ...): <error>``."""
        request = self.request
        last = request.address + request.count - 1
        names = ", ".join(point.quantity for point in request.points)
        return f"{request.table} 0x{request.address:04X}..0x{last:04X} ({names}): {self.error}"


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """Every quantity of the plan has a result; a failed request's points carry its reason."""

    results: dict[str, PointResult]
    failures: tuple[RequestFailure, ...]
    requests: int

    @property
    def complete(self) -> bool:
        """True when every request was answered."""
        return not self.failures

    @property
    def nothing_read(self) -> bool:
        """True when no request was answered (a dead meter, not a partial one)."""
        return len(self.failures) == self.requests
