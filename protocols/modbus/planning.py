"""Coalescing read planner: the fewest read requests that cover the wanted quantities.

On a shared RS-485 bus every request costs a round trip plus an inter-frame gap, so one
40-register read beats ten 4-register reads. Requests never cross tables, never exceed the
map's register limit (125 by the Modbus spec) and only span gaps up to ``max_gap`` registers.

Within one table, with points sorted by address, the greedy "extend the current request while
the next point fits" is optimal: any request boundary it draws is forced either by a gap larger
than ``max_gap`` or by the length limit, and delaying a forced boundary is impossible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocols.modbus.codec import PointResult, decode_point, missing_result
from protocols.modbus.errors import RegisterDecodeError, RegisterMapError
from protocols.modbus.maps import RegisterMap
from protocols.modbus.points import NO_RATIOS, Point, Ratios
from protocols.modbus.registers import MAX_READ_REGISTERS, Table


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read of ``count`` registers from ``table`` starting at ``address``."""

    table: Table
    address: int
    count: int
    points: tuple[Point, ...]

    @property
    def function_code(self) -> int:
        """Function code of this read (3 holding, 4 input)."""
        return self.table.function_code

    def decode(
        self, registers: Sequence[int], ratios: Ratios = NO_RATIOS
    ) -> dict[str, PointResult]:
        """Results for every point of this request from the registers it returned."""
        if len(registers) != self.count:
            raise RegisterDecodeError(
                f"read of {self.count} {self.table} register(s) at {self.address:#06x} "
                f"returned {len(registers)}"
            )
        results: dict[str, PointResult] = {}
        for point in self.points:
            start = point.address - self.address
            results[point.quantity] = decode_point(
                point, registers[start : start + point.width], ratios
            )
        return results

    def failed(self, reason: str) -> dict[str, PointResult]:
        """Missing results for every point, when the request itself failed."""
        return {point.quantity: missing_result(point, reason) for point in self.points}


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The requests for one set of quantities of one map, in send order."""

    map_name: str
    requests: tuple[ReadRequest, ...]

    @property
    def quantities(self) -> tuple[str, ...]:
        """Every quantity the plan covers."""
        return tuple(point.quantity for request in self.requests for point in request.points)

    @property
    def register_count(self) -> int:
        """Registers moved on the wire by the whole plan."""
        return sum(request.count for request in self.requests)

    def decode(
        self, responses: Sequence[Sequence[int]], ratios: Ratios = NO_RATIOS
    ) -> dict[str, PointResult]:
        """Results for every quantity from the responses to ``requests``, in the same order."""
        if len(responses) != len(self.requests):
            raise RegisterDecodeError(
                f"plan for {self.map_name!r} has {len(self.requests)} request(s), "
                f"got {len(responses)} response(s)"
            )
        results: dict[str, PointResult] = {}
        for request, registers in zip(self.requests, responses, strict=True):
            results.update(request.decode(registers, ratios))
        return results


def plan_reads(
    register_map: RegisterMap,
    quantities: Iterable[str],
    *,
    max_gap: int | None = None,
    max_registers: int | None = None,
) -> ReadPlan:
    """Plan reads for ``quantities`` (unknown names raise); limits default to the map's."""
    gap = register_map.max_gap if max_gap is None else max_gap
    limit = register_map.max_registers if max_registers is None else max_registers
    if gap < 0:
        raise RegisterMapError(f"max_gap must be >= 0, got {gap}")
    if not 2 <= limit <= MAX_READ_REGISTERS:
        raise RegisterMapError(f"max_registers must be 2..{MAX_READ_REGISTERS}, got {limit}")
    wanted = {register_map.point(quantity) for quantity in quantities}
    by_table: dict[Table, list[Point]] = {}
    for point in wanted:
        by_table.setdefault(point.table, []).append(point)
    requests: list[ReadRequest] = []
    for table in sorted(by_table):
        requests.extend(_coalesce(table, by_table[table], gap, limit))
    return ReadPlan(register_map.name, tuple(requests))


def plan_all(register_map: RegisterMap, **limits: int) -> ReadPlan:
    """Plan reads for every quantity of the map."""
    return plan_reads(register_map, register_map.quantities, **limits)


def plan_ratio_read(register_map: RegisterMap) -> ReadPlan | None:
    """Plan reading the map's CT/PT ratio registers, or None if the map has none."""
    quantities = [q for q in (register_map.ct_quantity, register_map.pt_quantity) if q]
    return plan_reads(register_map, quantities) if quantities else None


def ratios_from_results(register_map: RegisterMap, results: Mapping[str, PointResult]) -> Ratios:
    """Ratios from decoded ratio points; a missing or non-positive value keeps 1.0."""

    def pick(quantity: str | None) -> float:
        if quantity is None:
            return 1.0
        value = results[quantity].value
        return value if value is not None and value > 0 else 1.0

    return Ratios(ct=pick(register_map.ct_quantity), pt=pick(register_map.pt_quantity))


def _coalesce(table: Table, points: list[Point], gap: int, limit: int) -> list[ReadRequest]:
    ordered = sorted(points, key=lambda p: p.address)
    requests: list[ReadRequest] = []
    group: list[Point] = []
    for point in ordered:
        if group:
            start, end = group[0].address, group[-1].end
            if point.address - end <= gap and point.end - start <= limit:
                group.append(point)
                continue
            requests.append(_request(table, group))
        group = [point]
    if group:
        requests.append(_request(table, group))
    return requests


def _request(table: Table, group: list[Point]) -> ReadRequest:
    start = group[0].address
    return ReadRequest(table, start, group[-1].end - start, tuple(group))
