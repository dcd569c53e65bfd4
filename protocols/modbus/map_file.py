"""The schema of a register map file, as pydantic models, and its errors in the file's words.

A map is user-supplied TOML (``headend read modbus --map FILE``) as well as package data, so a
typo must fail naming the file, the key path (``points[3].address``) and the problem, never
pass as a default. The models say what each key must be; what relates keys to each other (a
point's ``base``, the ``[ratios]`` quantities, overlaps) is checked by ``maps.py`` on the result.

Imported only when a map is parsed: ``headend read`` starts without pydantic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError

from protocols.file_schema import Loc, describe, key_path, key_text
from protocols.kinds import KINDS
from protocols.modbus.errors import RegisterMapError
from protocols.modbus.maps import DEFAULT_MAX_GAP
from protocols.modbus.points import RatioUse
from protocols.modbus.registers import MAX_READ_REGISTERS, Table, ValueType, WordOrder


def _non_zero(value: float) -> float:
    if value == 0:
        raise ValueError("must be finite and non-zero, got 0")
    return value


def _kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"unknown value {value!r} (expected one of {sorted(KINDS)})")
    return value


Text = Annotated[str, Strict()]
Name = Annotated[Text, Field(min_length=1)]
Address = Annotated[int, Strict(), Field(ge=0, le=0xFFFF)]
"""A 0-based PDU address: register 30001 is address 0."""
Scale = Annotated[float, Strict(), Field(allow_inf_nan=False), AfterValidator(_non_zero)]
Kind = Annotated[str, Strict(), AfterValidator(_kind)]
"""One of ``protocols.kinds.KINDS``."""


class _Table(BaseModel):
    """Unknown keys are errors: a misspelt ``word_order`` must not silently become the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MapMeterTable(_Table):
    name: Name
    description: Text = ""
    sources: tuple[Text, ...] = ()


class MapReadTable(_Table):
    max_gap: Annotated[int, Strict(), Field(ge=0)] = DEFAULT_MAX_GAP
    max_registers: Annotated[int, Strict(), Field(ge=2, le=MAX_READ_REGISTERS)] = MAX_READ_REGISTERS


class MapDefaultsTable(_Table):
    """Keys every point may leave out; a point's own value wins."""

    table: Table | None = None
    type: ValueType | None = None
    word_order: WordOrder | None = None
    scale: Scale | None = None
    unit: Text | None = None
    kind: Kind | None = None
    ratio: RatioUse | None = None


class MapPointTable(MapDefaultsTable):
    """One ``[[points]]`` entry; keys it leaves out come from ``[defaults]``."""

    quantity: Name
    address: Annotated[int, Strict()]
    """An address, or an offset from ``base``: its range is checked once the base is added."""
    base: Name | None = None
    note: Text = ""


class MapRatiosTable(_Table):
    ct: Name | None = None
    pt: Name | None = None


class MapFile(_Table):
    meter: MapMeterTable
    read: MapReadTable = MapReadTable()
    defaults: MapDefaultsTable = MapDefaultsTable()
    bases: dict[Text, Address] = {}
    ratios: MapRatiosTable = MapRatiosTable()
    points: Annotated[tuple[MapPointTable, ...], Field(min_length=1)]


def read_map_file(data: Mapping[str, Any], source: str) -> MapFile:
    """``data`` checked against the schema; the first problem as a ``RegisterMapError``."""
    try:
        return MapFile.model_validate(data)
    except ValidationError as exc:
        details = exc.errors(include_url=False)[0]
        problem = describe(details)
        if details["type"] == "too_short":
            problem = "needs at least one [[points]] entry"
        raise map_error(source, key_path(details), problem, data) from None


def map_error(
    source: str, loc: Loc, problem: str, data: Mapping[str, Any] | None = None
) -> RegisterMapError:
    """``source: points[1].address (current_a): problem``: a point is also named by its
    quantity, since ``points[41]`` alone sends an engineer counting tables."""
    quantity = None
    if len(loc) >= 2 and loc[0] == "points" and isinstance(loc[1], int) and data is not None:
        quantity = _quantity(data, loc[1])
    return RegisterMapError.at(source, key_text(loc), problem, quantity=quantity)


def _quantity(data: Mapping[str, Any], index: int) -> str | None:
    points = data.get("points")
    if isinstance(points, list) and index < len(points) and isinstance(points[index], Mapping):
        quantity = points[index].get("quantity")
        if isinstance(quantity, str) and quantity:
            return quantity
    return None
