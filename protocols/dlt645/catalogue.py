"""The data-identifier catalogue: DI -> name, format, unit, kind, loaded once from TOML.

Adding a quantity is a row in ``catalogue.toml``, not code. The file is validated at load and
every complaint names the file, the edition and the row, so a typo fails at import time in CI
rather than as a wrong value in the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from protocols.dlt645.control import Standard
from protocols.dlt645.errors import (
    CatalogueError,
    EncodeError,
    UnexpectedMessage,
    UnknownIdentifier,
)
from protocols.dlt645.values import Encoding, NotAvailable, Value, ValueFormat, decoder_of
from protocols.kinds import KINDS

CATALOGUE_FILE = "catalogue.toml"

_TABLES = {Standard.DLT645_2007: "dlt645_2007", Standard.DLT645_1997: "dlt645_1997"}
_KEYS = frozenset(
    {
        "di",
        "name",
        "format",
        "unit",
        "kind",
        "signed",
        "members",
        "tariffs",
        "history",
        "encoding",
        "flags",
        "fields",
        "source",
    }
)
_FIELD_KEYS = frozenset({"suffix", "format", "unit", "signed", "encoding"})
MAX_TARIFFS = 63
"""DL/T 645-2007 appendix A: DI1 01..3F selects tariff 1..63 (00 is the total, FF all)."""

Decoded = Value | Mapping[str, Value]
"""A single item decodes to a ``Value``; a block or a record to its values by name."""


@dataclass(frozen=True, slots=True)
class RecordField:
    """One field of a record: its format, its unit, and what its value's name ends with.

    A record (demand: value and time; an event: start, end, energies...) is fields in wire
    order; a value is named ``<item or member><suffix>``, so the first field usually has the
    empty suffix and the value keeps the item's own name.
    """

    suffix: str
    format: ValueFormat
    unit: str


_Layout = tuple[tuple[str, int, int, Callable[[bytes], Value]], ...]
"""Every value of a full reply in wire order: its name, where its bytes are, its decoder."""


@dataclass(frozen=True, slots=True)
class DataItem:
    """One catalogue row: how to read and write one data identifier."""

    di: int
    name: str
    format: ValueFormat
    unit: str
    kind: str
    standard: Standard
    members: tuple[str, ...] = ()
    history: int = 0
    flags: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    fields: tuple[RecordField, ...] = ()
    """Empty for a plain value; else the record every value (or member) of this item is."""
    source: str = ""
    layout: _Layout = field(init=False, repr=False, compare=False)
    """Worked out once per item: a block read decodes every slot, and walking members and
    fields per reply was a visible share of a read's CPU."""

    def __post_init__(self) -> None:
        layout = []
        at = 0
        for base in self.members or (self.name,):
            for part in self.parts:
                end = at + part.format.length
                layout.append((base + part.suffix, at, end, decoder_of(part.format)))
                at = end
        object.__setattr__(self, "layout", tuple(layout))

    @property
    def is_block(self) -> bool:
        return bool(self.members)

    @property
    def is_record(self) -> bool:
        return bool(self.fields)

    @property
    def parts(self) -> tuple[RecordField, ...]:
        """The fields of one value: the record's, or the item's own format as one field."""
        return self.fields or (RecordField("", self.format, self.unit),)

    @property
    def record_length(self) -> int:
        """Bytes of one value (one member of a block)."""
        return sum(part.format.length for part in self.parts)

    @property
    def length(self) -> int:
        """Bytes of the full reply payload (every member of a block)."""
        return self.record_length * max(1, len(self.members))

    def value_names(self) -> tuple[str, ...]:
        """The names a full reply decodes to, in wire order."""
        return tuple(
            base + part.suffix for base in self.members or (self.name,) for part in self.parts
        )

    def part_of(self, value_name: str) -> RecordField:
        """The field a decoded value's name comes from (for its unit and format)."""
        for base in self.members or (self.name,):
            for part in self.parts:
                if base + part.suffix == value_name:
                    return part
        raise UnknownIdentifier(f"DI {self.label()} ({self.name}): no value {value_name!r}")

    @property
    def decimals(self) -> int:
        return self.format.decimals

    @property
    def signed(self) -> bool:
        return self.format.signed

    def label(self) -> str:
        """The DI as printed in the standard's tables, for messages and logs."""
        return f"{self.di:0{2 * self.standard.di_length}X}"

    def di_for(self, period: int) -> int:
        """The identifier of this item ``period`` periods ago (1..history), e.g. 2 days ago."""
        if not 1 <= period <= self.history:
            raise EncodeError(
                f"DI {self.label()} ({self.name}): period {period} not 1..{self.history}"
            )
        return (self.di & ~0xFF) | period

    def decode(self, payload: bytes) -> Decoded:
        """The value(s) in a reply payload (plain bytes, DI already removed).

        A block may come back shorter than the catalogue's list (a meter with fewer tariffs
        sends fewer members); only the members present are returned.
        """
        size = self.record_length
        if self.is_block:
            count, rest = divmod(len(payload), size)
            if rest or not 1 <= count <= len(self.members):
                raise UnexpectedMessage(
                    f"DI {self.label()} ({self.name}): {len(payload)} bytes is not 1..."
                    f"{len(self.members)} values of {size} bytes: {payload.hex(' ')}"
                )
            layout = self.layout
            if count < len(self.members):
                layout = layout[: count * len(self.parts)]
            return MappingProxyType(
                {name: decode(payload[start:end]) for name, start, end, decode in layout}
            )
        if len(payload) != size:
            raise UnexpectedMessage(
                f"DI {self.label()} ({self.name}): expected {size} bytes, got {len(payload)}: "
                f"{payload.hex(' ')}"
            )
        if not self.is_record:
            return decoder_of(self.format)(payload)
        return MappingProxyType(self._decode_record(self.name, payload))

    def _decode_record(self, base: str, raw: bytes) -> dict[str, Value]:
        values: dict[str, Value] = {}
        at = 0
        for part in self.parts:
            end = at + part.format.length
            values[base + part.suffix] = part.format.decode(raw[at:end])
            at = end
        return values

    def encode(self, value: Decoded, *, complete: bool = True) -> bytes:
        """The reply payload for ``value`` (what a simulated meter sends).

        A block's missing members are 0xFF fill, or with ``complete=False`` end the block
        (a meter with fewer tariffs than the catalogue lists sends a shorter block).
        """
        if not self.is_block and not self.is_record:
            if isinstance(value, Mapping):
                raise EncodeError(f"DI {self.label()} ({self.name}): one value, not a mapping")
            return self.format.encode(value)
        if not isinstance(value, Mapping):
            raise EncodeError(f"DI {self.label()} ({self.name}): needs values by name")
        unknown = value.keys() - set(self.value_names())
        if unknown:
            raise EncodeError(f"DI {self.label()} ({self.name}): no members {sorted(unknown)}")
        payload = bytearray()
        for base in self.members or (self.name,):
            names = [base + part.suffix for part in self.parts]
            if not complete and not any(name in value for name in names):
                break
            for name, part in zip(names, self.parts, strict=True):
                payload += part.format.encode(value.get(name, NotAvailable("not simulated")))
        return bytes(payload)

    def decode_flags(self, word: int) -> dict[str, bool]:
        """The named bits of a status word."""
        return {name: bool(word >> bit & 1) for name, bit in self.flags.items()}


class Catalogue:
    """The items of one edition, by identifier and by name."""

    def __init__(self, standard: Standard, items: list[DataItem]) -> None:
        self.standard = standard
        self._by_di = {item.di: item for item in items}
        self._by_name = {item.name: item for item in items}

    def __iter__(self) -> Iterator[DataItem]:
        return iter(self._by_di.values())

    def __len__(self) -> int:
        return len(self._by_di)

    def __contains__(self, di: object) -> bool:
        return isinstance(di, int) and self._find(di) is not None

    def lookup(self, di: int) -> DataItem:
        """The item for ``di``; history items match any period 01..history."""
        item = self._find(di)
        if item is None:
            width = 2 * self.standard.di_length
            raise UnknownIdentifier(
                f"DI {di:0{width}X} is not in the DL/T 645-{self.standard.value} catalogue"
            )
        return item

    def by_name(self, name: str) -> DataItem:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownIdentifier(
                f"quantity {name!r} is not in the DL/T 645-{self.standard.value} catalogue"
            ) from None

    def _find(self, di: int) -> DataItem | None:
        item = self._by_di.get(di)
        if item is not None:
            return item
        base = self._by_di.get((di & ~0xFF) | 1)
        if base is not None and 1 <= di & 0xFF <= base.history:
            return base
        return None


@cache
def catalogue(standard: Standard = Standard.DLT645_2007) -> Catalogue:
    """The catalogue of one edition, loaded and validated on first use."""
    text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    return load_catalogue(text, standard, source=CATALOGUE_FILE)


def decode_value(di: int, payload: bytes, standard: Standard = Standard.DLT645_2007) -> Decoded:
    """Decode a read reply's payload; unusable content gives ``NotAvailable``, not an error."""
    return catalogue(standard).lookup(di).decode(payload)


def encode_value(di: int, value: Decoded, standard: Standard = Standard.DLT645_2007) -> bytes:
    """The payload a meter sends for ``value`` (the simulator's side of ``decode_value``)."""
    return catalogue(standard).lookup(di).encode(value)


def load_catalogue(text: str, standard: Standard, source: str) -> Catalogue:
    """Parse and check catalogue TOML; errors name ``source``, the table, the row and the key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: not valid TOML: {exc}") from None
    table = _TABLES[standard]
    rows = document.get(table)
    if not isinstance(rows, list):
        raise CatalogueError(f"{source}: missing array {table!r}")
    items: list[DataItem] = []
    tariff_items: list[DataItem] = []
    for index, row in enumerate(rows):
        item, *singles = _items(row, standard, f"{source}: {table}[{index}]")
        items.append(item)
        tariff_items += singles
    _check_unique(items, source, table)
    listed = {item.di: item.name for item in items}
    for single in tariff_items:
        if listed.get(single.di, single.name) != single.name:
            raise CatalogueError(
                f"{source}: {table}: DI {single.label()} is {listed[single.di]!r} and, as a "
                f"tariff of its block, {single.name!r}"
            )
    items += [single for single in tariff_items if single.di not in listed]
    _check_unique(items, source, table)
    return Catalogue(standard, items)


def _items(row: Any, standard: Standard, where: str) -> list[DataItem]:
    """The row's item, and for a tariff block (``tariffs``, DI1 = FF) each tariff's item."""
    if not isinstance(row, dict):
        raise CatalogueError(f"{where}: must be a table")
    unknown = row.keys() - _KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    where = f"{where} (di {row.get('di')!r})"
    di_text = _get(row, "di", str, where)
    width = 2 * standard.di_length
    try:
        if len(di_text) != width:
            raise ValueError
        di = int(di_text, 16)
    except ValueError:
        raise CatalogueError(f"{where}: key 'di' must be {width} hex digits") from None
    kind = _get(row, "kind", str, where)
    if kind not in KINDS:
        raise CatalogueError(f"{where}: key 'kind' must be one of {sorted(KINDS)}")
    name = _get(row, "name", str, where)
    unit = _get(row, "unit", str, where)
    fields = _fields(row, unit, where)
    if fields and "format" in row:
        raise CatalogueError(f"{where}: key 'format': a record gives each field's format")
    value_format = fields[0].format if fields else _format(row, where, "")
    members = _get(row, "members", list, where, default=[])
    if not all(isinstance(member, str) for member in members):
        raise CatalogueError(f"{where}: key 'members' must list names")
    tariffs = _get(row, "tariffs", int, where, default=0)
    if tariffs and (members or not 1 <= tariffs <= MAX_TARIFFS):
        raise CatalogueError(
            f"{where}: key 'tariffs' must be 1..{MAX_TARIFFS}, and not given with 'members'"
        )
    if tariffs:
        members = [f"{name}_total", *(f"{name}_t{n}" for n in range(1, tariffs + 1))]
    history = _get(row, "history", int, where, default=0)
    if history and not (di & 0xFF == 1 and 1 <= history <= 0xFE):
        raise CatalogueError(f"{where}: key 'history' needs a DI ending in 01 and 1..254")
    flags = _get(row, "flags", dict, where, default={})
    bits = 8 * value_format.length
    if flags and (
        value_format.encoding is not Encoding.BITS
        or not all(isinstance(bit, int) and 0 <= bit < bits for bit in flags.values())
    ):
        raise CatalogueError(f"{where}: key 'flags' needs a bit field and bits 0..{bits - 1}")
    common = {
        "format": value_format,
        "unit": unit,
        "kind": kind,
        "standard": standard,
        "history": history,
        "fields": fields,
        "source": _get(row, "source", str, where, default=""),
    }
    item = DataItem(
        di=di, name=name, members=tuple(members), flags=MappingProxyType(dict(flags)), **common
    )
    if not tariffs or (di >> 8) & 0xFF != 0xFF:
        return [item]
    singles = [
        DataItem(di=(di & ~0xFF00) | (n << 8), name=member, **common)
        for n, member in enumerate(members)
    ]
    return [item, *singles]


def _format(row: dict[str, Any], where: str, key: str) -> ValueFormat:
    try:
        return ValueFormat(
            _get(row, "format", str, where),
            Encoding(row.get("encoding", Encoding.BCD.value)),
            signed=_get(row, "signed", bool, where, default=False),
        )
    except ValueError as exc:
        keys = "/".join(f"'{key}{name}'" for name in ("format", "encoding", "signed"))
        raise CatalogueError(f"{where}: keys {keys}: {exc}") from None


def _fields(row: dict[str, Any], unit: str, where: str) -> tuple[RecordField, ...]:
    listed = _get(row, "fields", list, where, default=[])
    fields = []
    for index, spec in enumerate(listed):
        at = f"{where}: fields[{index}]"
        if not isinstance(spec, dict):
            raise CatalogueError(f"{at}: must be a table")
        unknown = spec.keys() - _FIELD_KEYS
        if unknown:
            raise CatalogueError(f"{at}: unknown keys {sorted(unknown)}")
        fields.append(
            RecordField(
                suffix=_get(spec, "suffix", str, at, default=""),
                format=_format(spec, at, f"fields[{index}]."),
                unit=_get(spec, "unit", str, at, default=unit),
            )
        )
    suffixes = [part.suffix for part in fields]
    if len(set(suffixes)) != len(suffixes):
        raise CatalogueError(f"{where}: key 'fields': two fields with one suffix")
    return tuple(fields)


def _get(row: dict[str, Any], key: str, kind: type[Any], where: str, default: Any = None) -> Any:
    value = row.get(key, default)
    if value is None:
        raise CatalogueError(f"{where}: missing key {key!r}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CatalogueError(f"{where}: key {key!r} must be a {kind.__name__}")
    return value


def _check_unique(items: list[DataItem], source: str, table: str) -> None:
    seen_di: set[int] = set()
    seen_names: set[str] = set()
    for item in items:
        if item.di in seen_di or item.name in seen_names:
            raise CatalogueError(f"{source}: {table}: DI {item.label()} or {item.name!r} twice")
        seen_di.add(item.di)
        seen_names.add(item.name)
