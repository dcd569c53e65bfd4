"""Register maps as data: TOML files validated at load, with errors naming file, key path and
point (``meter.toml: points[3].address (current_a): ...``); the schema is ``map_file.py``.

A map describes one meter model. Adding a model is adding a file to ``maps/``, not code.
Addresses are the 0-based PDU addresses that go on the wire (register 30001 is address 0).
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocols.modbus.errors import RegisterMapError, UnknownQuantityError
from protocols.modbus.points import Point, RatioUse
from protocols.modbus.registers import MAX_READ_REGISTERS, Table, ValueType, WordOrder

if TYPE_CHECKING:
    # pydantic is imported only when a map is parsed: ``headend read`` starts without it.
    from protocols.modbus.map_file import MapDefaultsTable, MapPointTable

BUILTIN_MAPS_DIR = Path(__file__).parent / "maps"
ENERGY_BASE = "energy"
"""The ``[bases]`` name of a map's movable energy block, which a meter's ``energy_base``
setting moves (Chint DTSU666 firmware differ: 0x401E or 0x101E)."""
DEFAULT_MAX_GAP = 8
"""Unwanted registers a coalesced read may span; small, because some meters reject reads that
touch undefined addresses (set ``max_gap = 0`` in such a meter's ``[read]`` table)."""


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


def builtin_map_description(name: str) -> str:
    """The ``[meter] description`` of a shipped map, read without validating the map: listing
    the maps (``headend read --list-maps``) must start without pydantic, and every shipped map
    is validated by the tests."""
    path = BUILTIN_MAPS_DIR / f"{name}.toml"
    if not path.is_file():
        raise RegisterMapError(f"no built-in register map {name!r} (have: {builtin_map_names()})")
    meter = tomllib.loads(path.read_text(encoding="utf-8")).get("meter", {})
    description = meter.get("description", "") if isinstance(meter, dict) else ""
    return description if isinstance(description, str) else ""


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
    """Validate an already-parsed TOML document; ``source`` names it in errors.

    The schema (``map_file``) checks every key's presence, type and range; what is left here
    relates keys to each other: ``[defaults]``, ``base`` names, duplicates and ``[ratios]``.
    """
    from protocols.modbus.map_file import map_error, read_map_file

    file = read_map_file(data, source)
    points = tuple(
        _point(entry, index, file.defaults, file.bases, source, data)
        for index, entry in enumerate(file.points)
    )
    first: dict[str, int] = {}
    for index, point in enumerate(points):
        if point.quantity in first:
            raise map_error(
                source,
                ("points", index, "quantity"),
                f"{point.quantity!r} is defined twice (first in points[{first[point.quantity]}])",
                data,
            )
        first[point.quantity] = index
    for key, quantity in (("ct", file.ratios.ct), ("pt", file.ratios.pt)):
        if quantity is not None and quantity not in first:
            raise map_error(source, ("ratios", key), f"names unknown quantity {quantity!r}")
    return RegisterMap(
        name=file.meter.name,
        source=source,
        points=points,
        description=file.meter.description,
        sources=file.meter.sources,
        bases=dict(file.bases),
        max_gap=file.read.max_gap,
        max_registers=file.read.max_registers,
        ct_quantity=file.ratios.ct,
        pt_quantity=file.ratios.pt,
    )


def _point(
    entry: MapPointTable,
    index: int,
    defaults: MapDefaultsTable,
    bases: Mapping[str, int],
    source: str,
    data: Mapping[str, Any],
) -> Point:
    """One ``[[points]]`` entry with ``[defaults]`` filled in and its base added."""
    from protocols.modbus.map_file import map_error

    def fail(key: str, problem: str) -> RegisterMapError:
        return map_error(source, ("points", index, key), problem, data)

    def pick(key: str) -> Any:
        value = getattr(entry, key)
        return getattr(defaults, key) if value is None else value

    for key in ("table", "type", "unit", "kind"):
        if pick(key) is None:
            raise fail(key, "is required (in the point or in [defaults])")
    address = entry.address
    if entry.base is not None:
        if entry.base not in bases:
            raise fail("base", f"unknown base {entry.base!r} (bases: {sorted(bases)})")
        address += bases[entry.base]
    value_type: ValueType = pick("type")
    for register in (address, address + value_type.width - 1):
        if not 0 <= register <= 0xFFFF:
            raise fail("address", f"register {register} is outside 0..65535")
    scale = pick("scale")
    return Point(
        quantity=entry.quantity,
        table=pick("table"),
        address=address,
        value_type=value_type,
        word_order=pick("word_order") or WordOrder.HIGH_FIRST,
        scale=1.0 if scale is None else float(scale),
        unit=pick("unit"),
        kind=pick("kind"),
        ratio=pick("ratio") or RatioUse.NONE,
        base=entry.base,
        offset=entry.address,
    )


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


def _check_address(address: int, where: str) -> None:
    if not 0 <= address <= 0xFFFF:
        raise RegisterMapError(f"{where}: address {address} is outside 0..65535")
