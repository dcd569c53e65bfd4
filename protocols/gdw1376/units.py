"""Data unit identifiers: DA (which points, pn) and DT (which items, Fn), 2 bytes each.

DA1 is a bitmap of up to 8 points of group DA2 (pn = (DA2 - 1) * 8 + bit + 1); DA1 = DA2 = 0
is p0, the terminal itself. DT1 is a bitmap of up to 8 items of group DT2 (Fn = DT2 * 8 + bit +
1). One identifier therefore names up to 8 x 8 (pn, Fn) pairs, whose data units follow it in
order: for each point from the smallest, each item from the smallest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from protocols.gdw1376.errors import EncodeError

UNIT_ID_LENGTH = 4
MAX_POINT = 2040
MAX_ITEM = 248
ALL_POINTS_GROUP = 0xFF
"""DA2 = FFH with DA1 = FFH stands for every valid point (except p0) in requests; the codec
does not decode it (no unit names it), so it reads as "no point"."""


@dataclass(frozen=True, slots=True)
class UnitId:
    points: tuple[int, ...]
    """pn, ascending; ``(0,)`` for p0."""
    items: tuple[int, ...]
    """Fn, ascending."""

    def __post_init__(self) -> None:
        _check_points(self.points)
        _check_items(self.items)

    def pairs(self) -> list[tuple[int, int]]:
        """(pn, Fn) in the order their data units follow the identifier."""
        return [(point, item) for point in self.points for item in self.items]

    @classmethod
    def from_wire(cls, raw: bytes | bytearray | memoryview) -> UnitId:
        return cls(decode_points(raw[0], raw[1]), decode_items(raw[2], raw[3]))

    def to_wire(self) -> bytes:
        return encode_points(self.points) + encode_items(self.items)

    def __str__(self) -> str:
        points = ",".join(f"p{point}" for point in self.points)
        items = ",".join(f"F{item}" for item in self.items)
        return f"{points} {items}"


def decode_points(da1: int, da2: int) -> tuple[int, ...]:
    if da1 == 0 and da2 == 0:
        return (0,)
    if da2 == 0 or (da1, da2) == (0xFF, ALL_POINTS_GROUP):
        return ()
    return tuple((da2 - 1) * 8 + bit + 1 for bit in range(8) if da1 >> bit & 1)


def decode_items(dt1: int, dt2: int) -> tuple[int, ...]:
    return tuple(dt2 * 8 + bit + 1 for bit in range(8) if dt1 >> bit & 1)


def encode_points(points: Iterable[int]) -> bytes:
    points = tuple(points)
    _check_points(points)
    if points == (0,):
        return b"\x00\x00"
    group = (points[0] - 1) // 8 + 1
    return bytes((_bitmap(point - 1 - (group - 1) * 8 for point in points), group))


def encode_items(items: Iterable[int]) -> bytes:
    items = tuple(items)
    _check_items(items)
    group = (items[0] - 1) // 8
    return bytes((_bitmap(item - 1 - group * 8 for item in items), group))


def _bitmap(bits: Iterable[int]) -> int:
    value = 0
    for bit in bits:
        value |= 1 << bit
    return value


def _check_points(points: tuple[int, ...]) -> None:
    if points == (0,):
        return
    if not points or any(not 1 <= point <= MAX_POINT for point in points):
        raise EncodeError(f"points {points}: expected p0 alone or 1..{MAX_POINT}")
    if len({(point - 1) // 8 for point in points}) != 1 or len(set(points)) != len(points):
        raise EncodeError(f"points {points}: one identifier holds distinct points of one group")
    if list(points) != sorted(points):
        raise EncodeError(f"points {points}: must be in ascending order")


def _check_items(items: tuple[int, ...]) -> None:
    if not items or any(not 1 <= item <= MAX_ITEM for item in items):
        raise EncodeError(f"items {items}: expected F1..F{MAX_ITEM}")
    if len({(item - 1) // 8 for item in items}) != 1 or len(set(items)) != len(items):
        raise EncodeError(f"items {items}: one identifier holds distinct items of one group")
    if list(items) != sorted(items):
        raise EncodeError(f"items {items}: must be in ascending order")


def group_units(pairs: Iterable[tuple[int, int]]) -> list[UnitId]:
    """Pack (pn, Fn) pairs into as few identifiers as possible (same point group and item
    group, and the full point x item product), keeping their order."""
    units: list[tuple[list[int], list[int]]] = []
    for point, item in pairs:
        for points, items in units[-1:]:
            same_group = (point - 1) // 8 == (points[0] - 1) // 8 and point != 0 != points[0]
            if points == [point] and (item - 1) // 8 == (items[0] - 1) // 8 and item > items[-1]:
                items.append(item)
                break
            if items == [item] and same_group and point > points[-1]:
                points.append(point)
                break
        else:
            units.append(([point], [item]))
    return [UnitId(tuple(points), tuple(items)) for points, items in units]
