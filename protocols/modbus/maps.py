"""Register maps as data: TOML files validated at load, with errors naming file, point and key.

A map describes one meter model. Adding a model is adding a file to ``maps/``, not code.
Addresses are the 0-based PDU addresses that go on the wire (register 30001 is address 0).
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from protocols.kinds import KINDS
from protocols.modbus.errors import RegisterMapError, UnknownQuantityError
from protocols.modbus.points import Point, RatioUse
from protocols.modbus.registers import MAX_READ_REGISTERS, Table, ValueType, WordOrder

BUILTIN_MAPS_DIR = Path(__file__).parent / "maps"
DEFAULT_MAX_GAP = 8
"""Unwanted registers a coalesced read may span; small, because some meters reject reads that
touch undefined addresses (set ``max_gap = 0`` in such a meter's ``[read]`` table)."""

_TOP_KEYS = {"meter", "read", "defaults", "bases", "ratios", "points"}
_METER_KEYS = {"name", "description", "sources"}
_READ_KEYS = {"max_gap", "max_registers"}
_POINT_KEYS = {
    "quantity",
    "address",
    "base",
    "table",
    "type",
    "word_order",
    "scale",
    "unit",
    "kind",
    "ratio",
    "note",
}
_DEFAULT_KEYS = _POINT_KEYS - {"quantity", "address", "base", "note"}
_RATIO_KEYS = {"ct", "pt"}
_E = TypeVar("_E", Table, ValueType, WordOrder, RatioUse)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """The points of one meter model, plus how its reads may be coalesced."""

    name: str
    source: str
    points: tuple[Point, ...]
    description: str = ""
    sources: tuple[str, ...] = ()
    bases: Mapping[str, int] = field(default_factory=dict)
    max_gap: int = DEFAULT_MAX_GAP
    max_registers: int = MAX_READ_REGISTERS
    ct_quantity: str | None = None
    pt_quantity: str | None = None

    def __post_init__(self) -> None:
        _check_no_overlap(self.points, self.source)

    @property
    def quantities(self) -> tuple[str, ...]:
        """Every quantity the map defines, in file order."""
        return tuple(point.quantity for point in self.points)

    def point(self, quantity: str) -> Point:
        """The point for ``quantity``; a clear error if the map lacks it."""
        for candidate in self.points:
            if candidate.quantity == quantity:
                return candidate
        raise UnknownQuantityError(f"register map {self.name!r} has no quantity {quantity!r}")

    def with_bases(self, overrides: Mapping[str, int]) -> RegisterMap:
        """The same map with some address bases moved (per-meter firmware differences)."""
        for base, address in overrides.items():
            if base not in self.bases:
                raise RegisterMapError(
                    f"{self.source}: no base {base!r} to override (bases: {sorted(self.bases)})"
                )
            _check_address(address, f"{self.source}: base override {base!r}")
        bases = {**self.bases, **overrides}
        points = tuple(
            replace(point, address=bases[point.base] + point.offset)
            if point.base is not None
            else point
            for point in self.points
        )
        for point in points:
            _check_address(point.end - 1, f"{self.source}: point {point.quantity!r} after rebase")
        return replace(self, points=points, bases=bases)


def builtin_map_names() -> tuple[str, ...]:
    """Names of the maps shipped in ``protocols/modbus/maps``."""
    return tuple(sorted(path.stem for path in BUILTIN_MAPS_DIR.glob("*.toml")))


def builtin_register_map(name: str, *, bases: Mapping[str, int] | None = None) -> RegisterMap:
    """Load a shipped map by name (file stem), optionally with base overrides."""
    path = BUILTIN_MAPS_DIR / f"{name}.toml"
    if not path.is_file():
        raise RegisterMapError(f"no built-in register map {name!r} (have: {builtin_map_names()})")
    return load_register_map(path, bases=bases)


def load_register_map(path: Path, *, bases: Mapping[str, int] | None = None) -> RegisterMap:
    """Read and validate a map file; ``bases`` overrides the file's ``[bases]`` values."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegisterMapError(f"{source}: cannot read register map: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegisterMapError(f"{source}: not valid TOML: {exc}") from exc
    register_map = parse_register_map(data, source)
    return register_map.with_bases(bases) if bases else register_map


def parse_register_map(data: Mapping[str, Any], source: str) -> RegisterMap:
    """Validate an already-parsed TOML document; ``source`` names it in errors."""
    _check_keys(data, _TOP_KEYS, source)
    meter = _table(data, "meter", source, required=True)
    _check_keys(meter, _METER_KEYS, f"{source}: [meter]")
    name = _string(meter, "name", f"{source}: [meter]")
    description = str(meter.get("description", ""))
    sources = meter.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise RegisterMapError(f"{source}: [meter] key 'sources': must be a list of strings")

    read = _table(data, "read", source)
    _check_keys(read, _READ_KEYS, f"{source}: [read]")
    max_gap = _int(read.get("max_gap", DEFAULT_MAX_GAP), f"{source}: [read] key 'max_gap'")
    max_registers = _int(
        read.get("max_registers", MAX_READ_REGISTERS), f"{source}: [read] key 'max_registers'"
    )
    if max_gap < 0:
        raise RegisterMapError(f"{source}: [read] key 'max_gap': must be >= 0, got {max_gap}")
    if not 2 <= max_registers <= MAX_READ_REGISTERS:
        raise RegisterMapError(
            f"{source}: [read] key 'max_registers': must be 2..{MAX_READ_REGISTERS}, "
            f"got {max_registers}"
        )

    defaults = _table(data, "defaults", source)
    _check_keys(defaults, _DEFAULT_KEYS, f"{source}: [defaults]")

    bases_table = _table(data, "bases", source)
    bases: dict[str, int] = {}
    for base, address in bases_table.items():
        where = f"{source}: [bases] key {base!r}"
        bases[base] = _int(address, where)
        _check_address(bases[base], where)

    raw_points = data.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise RegisterMapError(f"{source}: needs at least one [[points]] entry")
    points = tuple(
        _parse_point(raw, index, defaults, bases, source) for index, raw in enumerate(raw_points)
    )
    seen: set[str] = set()
    for point in points:
        if point.quantity in seen:
            raise RegisterMapError(f"{source}: quantity {point.quantity!r} is defined twice")
        seen.add(point.quantity)

    ratios = _table(data, "ratios", source)
    _check_keys(ratios, _RATIO_KEYS, f"{source}: [ratios]")
    for key, quantity in ratios.items():
        if quantity not in seen:
            raise RegisterMapError(
                f"{source}: [ratios] key {key!r}: names unknown quantity {quantity!r}"
            )
    return RegisterMap(
        name=name,
        source=source,
        points=points,
        description=description,
        sources=tuple(sources),
        bases=bases,
        max_gap=max_gap,
        max_registers=max_registers,
        ct_quantity=ratios.get("ct"),
        pt_quantity=ratios.get("pt"),
    )


def _parse_point(
    raw: object,
    index: int,
    defaults: Mapping[str, Any],
    bases: Mapping[str, int],
    source: str,
) -> Point:
    where = f"{source}: points[{index}]"
    if not isinstance(raw, dict):
        raise RegisterMapError(f"{where}: must be a table")
    quantity = raw.get("quantity")
    if isinstance(quantity, str) and quantity:
        where = f"{where} ({quantity})"
    _check_keys(raw, _POINT_KEYS, where)
    merged = {**defaults, **raw}
    quantity = _string(merged, "quantity", where)
    offset = _int(_require(merged, "address", where), f"{where} key 'address'")
    base = merged.get("base")
    address = offset
    if base is not None:
        if base not in bases:
            raise RegisterMapError(
                f"{where} key 'base': unknown base {base!r} (bases: {sorted(bases)})"
            )
        address = bases[base] + offset
    point = Point(
        quantity=quantity,
        table=_enum(Table, merged, "table", where),
        address=address,
        value_type=_enum(ValueType, merged, "type", where),
        word_order=_enum(WordOrder, {"word_order": "high_first", **merged}, "word_order", where),
        scale=_scale(merged.get("scale", 1.0), f"{where} key 'scale'"),
        unit=_unit(merged, where),
        kind=_kind(merged, where),
        ratio=_enum(RatioUse, {"ratio": "none", **merged}, "ratio", where),
        base=base,
        offset=offset,
    )
    _check_address(point.address, f"{where} key 'address'")
    _check_address(point.end - 1, f"{where} key 'address' (last register)")
    return point


def _check_no_overlap(points: Iterable[Point], source: str) -> None:
    by_table: dict[Table, list[Point]] = {}
    for point in points:
        by_table.setdefault(point.table, []).append(point)
    for table_points in by_table.values():
        ordered = sorted(table_points, key=lambda p: p.address)
        for before, after in itertools.pairwise(ordered):
            if after.address < before.end:
                raise RegisterMapError(
                    f"{source}: point {after.quantity!r} at {after.address:#06x} overlaps "
                    f"{before.quantity!r} at {before.address:#06x} in the {after.table} table"
                )


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise RegisterMapError(f"{where}: unknown key(s) {unknown} (allowed: {sorted(allowed)})")


def _table(data: Mapping[str, Any], key: str, source: str, *, required: bool = False) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise RegisterMapError(f"{source}: missing [{key}] table")
        return {}
    if not isinstance(value, dict):
        raise RegisterMapError(f"{source}: [{key}] must be a table")
    return value


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise RegisterMapError(f"{where}: missing key {key!r}")
    return data[key]


def _string(data: Mapping[str, Any], key: str, where: str) -> str:
    value = _require(data, key, where)
    if not isinstance(value, str) or not value:
        raise RegisterMapError(f"{where} key {key!r}: must be a non-empty string")
    return value


def _unit(data: Mapping[str, Any], where: str) -> str:
    value = _require(data, "unit", where)
    if not isinstance(value, str):
        raise RegisterMapError(f"{where} key 'unit': must be a string (\"\" for no unit)")
    return value


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RegisterMapError(f"{where}: must be an integer, got {value!r}")
    return value


def _scale(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RegisterMapError(f"{where}: must be a number, got {value!r}")
    if not math.isfinite(value) or value == 0:
        raise RegisterMapError(f"{where}: must be finite and non-zero, got {value!r}")
    return float(value)


def _enum(cls: type[_E], data: Mapping[str, Any], key: str, where: str) -> _E:
    value = _require(data, key, where)
    try:
        return cls(value)
    except ValueError:
        allowed = [member.value for member in cls]
        raise RegisterMapError(
            f"{where} key {key!r}: unknown value {value!r} (expected one of {allowed})"
        ) from None


def _kind(data: Mapping[str, Any], where: str) -> str:
    value = _require(data, "kind", where)
    if value not in KINDS:
        raise RegisterMapError(
            f"{where} key 'kind': unknown value {value!r} (expected one of {sorted(KINDS)})"
        )
    return str(value)


def _check_address(address: int, where: str) -> None:
    if not 0 <= address <= 0xFFFF:
        raise RegisterMapError(f"{where}: address {address} is outside 0..65535")
