"""DL/T 645-2007 load profile (负荷记录, DI 06xxxxxx): the request and the record format.

A load profile reply does not follow the one-value-per-field layout of the other items: it is
a run of records, each ``A0 A0 <len> <YYMMDDhhmm> <class 1> AA <class 2> AA ... AA <CS> E5``,
where a class the meter does not record is only its ``AA`` separator and ``E0 E0`` instead of
``A0 A0`` marks a block the meter itself declares bad. Sources (docs/dlt645.md, "Load
profile"): DL/T 645-2007 appendix A.7 and its record format as written in the
"Appendix B — Load Profile Record Format" reference; the C record structs
``dlt645LoadDataClass1..6`` (start A0, separator AA, end E5); a concentrator's 2007 reader
(06000001 and 0601..0606 0001 replies, E0 E0 = bad block, single-class replies that leave the
leading separators out); a concentrator's request builder (count byte, then the start time
low byte first).

``<len>`` counts the bytes from the storage time to the last separator, so a record is
``3 + len + 2`` bytes; the checksum is the byte sum from the first ``A0`` to that separator.
Values decode through the same ``ValueFormat`` codecs as the catalogue, under the catalogue's
quantity names, so a backfilled value lands in the same series as a live one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from protocols.dlt645.address import Address
from protocols.dlt645.control import Control, Function
from protocols.dlt645.errors import EncodeError, MalformedFrame
from protocols.dlt645.frame import Frame
from protocols.dlt645.values import NotAvailable, Value, ValueFormat

START = b"\xa0\xa0"
BAD_BLOCK = b"\xe0\xe0"
SEPARATOR = 0xAA
END = 0xE5
_TIME = ValueFormat("YYMMDDhhmm")
_COUNT = ValueFormat("NN")
PROFILE_DI3 = 0x06
MAX_COUNT = 99
"""``NN`` is two BCD digits."""


class LoadProfileError(MalformedFrame):
    """A load profile reply that cannot be split into records; ``raw`` holds the data."""


class RecordChecksumError(LoadProfileError):
    """A record's checksum does not match the sum from its first A0 to its last separator."""


class RecordEndError(LoadProfileError):
    """The byte after a record's checksum is not E5."""


class RecordLengthError(LoadProfileError):
    """A record's length byte, or a class block's size, does not fit the layout."""


class Mode(enum.IntEnum):
    """DI0 of a load profile request: which block(s) the master asks for."""

    EARLIEST = 0x00
    """The earliest stored block(s)."""
    GIVEN_TIME = 0x01
    """Blocks from a given start time (``YYMMDDhhmm NN``)."""
    LATEST = 0x02
    """The most recent block(s)."""


@dataclass(frozen=True, slots=True)
class ProfileClass:
    """One of the six data classes a record can hold, with its fields in wire order."""

    number: int
    title: str
    fields: tuple[tuple[str, ValueFormat], ...]

    @property
    def length(self) -> int:
        return sum(fmt.length for _, fmt in self.fields)


def _fields(fmt: ValueFormat, *names: str) -> tuple[tuple[str, ValueFormat], ...]:
    return tuple((name, fmt) for name in names)


UNITS: Mapping[str, str] = {
    "voltage": "V",
    "current": "A",
    "frequency": "Hz",
    "power_active": "kW",
    "power_reactive": "kvar",
    "power_factor": "",
    "energy_active": "kWh",
    "energy_reactive": "kvarh",
    "demand_active": "kW",
    "demand_reactive": "kvar",
}


def unit_of(quantity: str) -> str:
    """The unit of a load profile quantity (the catalogue's units for the same names)."""
    for prefix, unit in UNITS.items():
        if quantity.startswith(prefix):
            return unit
    return ""


_VOLTAGE = ValueFormat("XXX.X")
_CURRENT = ValueFormat("XXX.XXX", signed=True)
_FREQUENCY = ValueFormat("XX.XX")
_POWER = ValueFormat("XX.XXXX", signed=True)
_FACTOR = ValueFormat("X.XXX", signed=True)
_ENERGY = ValueFormat("XXXXXX.XX")
_SIGNED_ENERGY = ValueFormat("XXXXXX.XX", signed=True)

CLASSES: tuple[ProfileClass, ...] = (
    ProfileClass(
        1,
        "voltage, current, frequency",
        _fields(_VOLTAGE, "voltage_a", "voltage_b", "voltage_c")
        + _fields(_CURRENT, "current_a", "current_b", "current_c")
        + _fields(_FREQUENCY, "frequency"),
    ),
    ProfileClass(
        2,
        "active and reactive power",
        _fields(_POWER, "power_active_total", "power_active_a", "power_active_b")
        + _fields(_POWER, "power_active_c", "power_reactive_total", "power_reactive_a")
        + _fields(_POWER, "power_reactive_b", "power_reactive_c"),
    ),
    ProfileClass(
        3,
        "power factor",
        _fields(_FACTOR, "power_factor_total", "power_factor_a", "power_factor_b")
        + _fields(_FACTOR, "power_factor_c"),
    ),
    ProfileClass(
        4,
        "active and combined reactive energy",
        _fields(_ENERGY, "energy_active_import_total", "energy_active_export_total")
        + _fields(_SIGNED_ENERGY, "energy_reactive_1_total", "energy_reactive_2_total"),
    ),
    ProfileClass(
        5,
        "four-quadrant reactive energy",
        _fields(
            _ENERGY,
            "energy_reactive_q1_total",
            "energy_reactive_q2_total",
            "energy_reactive_q3_total",
            "energy_reactive_q4_total",
        ),
    ),
    ProfileClass(
        6,
        "current demand",
        _fields(_POWER, "demand_active_current", "demand_reactive_current"),
    ),
)

QUANTITIES: frozenset[str] = frozenset(name for cls in CLASSES for name, _ in cls.fields)
"""Every quantity a load profile can carry."""


def class_of(quantity: str) -> int:
    """The class (1..6) that records ``quantity``; ``KeyError`` names an unknown one."""
    for cls in CLASSES:
        if any(name == quantity for name, _ in cls.fields):
            return cls.number
    raise KeyError(f"{quantity!r} is not in any DL/T 645 load profile class")


def profile_di(profile_class: int = 0, mode: Mode = Mode.GIVEN_TIME) -> int:
    """``06 CC 00 MM``: class 0 is all six classes, 1..6 one class."""
    if not 0 <= profile_class <= len(CLASSES):
        raise EncodeError(f"load profile class {profile_class}: must be 0 (all) or 1..6")
    return PROFILE_DI3 << 24 | profile_class << 16 | mode


def is_profile_di(di: int) -> bool:
    return di >> 24 == PROFILE_DI3 and (di >> 16) & 0xFF <= len(CLASSES) and di & 0xFF00 == 0


@dataclass(frozen=True, slots=True)
class LoadProfileQuery:
    """What a master asks for: which classes, which blocks, how many."""

    profile_class: int = 0
    mode: Mode = Mode.GIVEN_TIME
    start: datetime | None = None
    count: int = 1

    def __post_init__(self) -> None:
        profile_di(self.profile_class, self.mode)
        if not 1 <= self.count <= MAX_COUNT:
            raise EncodeError(f"load profile block count {self.count}: must be 1..{MAX_COUNT}")
        if (self.mode is Mode.GIVEN_TIME) != (self.start is not None):
            raise EncodeError("a load profile start time goes with mode GIVEN_TIME only")

    @property
    def di(self) -> int:
        return profile_di(self.profile_class, self.mode)

    def parameters(self) -> bytes:
        """The bytes after the DI: ``NN`` and, from a given time, ``mm hh DD MM YY``."""
        count = _COUNT.encode(self.count)
        return count if self.start is None else count + _TIME.encode(self.start)


def parse_query(di: int, parameters: bytes) -> LoadProfileQuery:
    """The query in a read request's DI and parameter bytes (the simulator's side)."""
    if not is_profile_di(di):
        raise ValueError(f"DI {di:08X} is not a load profile request")
    mode_value = di & 0xFF
    if mode_value not in set(Mode):
        raise ValueError(f"DI {di:08X}: mode {mode_value:02X} is not 00, 01 or 02")
    mode = Mode(mode_value)
    want = 1 + _TIME.length if mode is Mode.GIVEN_TIME else 1
    if len(parameters) != want:
        raise ValueError(f"DI {di:08X}: needs {want} parameter bytes, got {len(parameters)}")
    count = _COUNT.decode(parameters[:1])
    start = _TIME.decode(parameters[1:]) if mode is Mode.GIVEN_TIME else None
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"DI {di:08X}: block count {parameters[:1].hex()} is not 01..99")
    if start is not None and not isinstance(start, datetime):
        raise ValueError(f"DI {di:08X}: start time {parameters[1:].hex(' ')} is not a time")
    return LoadProfileQuery((di >> 16) & 0xFF, mode, start, count)


@dataclass(frozen=True, slots=True)
class LoadProfileRequest:
    """A read (11) of a load profile DI with its parameters."""

    address: Address
    query: LoadProfileQuery

    def to_frame(self) -> Frame:
        data = self.query.di.to_bytes(4, "little") + self.query.parameters()
        return Frame(self.address, Control(Function.READ), data)


@dataclass(frozen=True, slots=True)
class LoadRecord:
    """One stored interval: its time (meter wall clock) and the values of the classes held."""

    time: datetime
    values: Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """The records of a reply and the count of blocks the meter marked bad (E0 E0)."""

    records: tuple[LoadRecord, ...]
    bad_blocks: int = 0


@dataclass(slots=True)
class _Reader:
    data: bytes
    profile_class: int
    records: list[LoadRecord] = field(default_factory=list)
    bad_blocks: int = 0

    def run(self) -> LoadProfile:
        pos = 0
        while pos < len(self.data):
            pos = self._record(pos)
        return LoadProfile(tuple(self.records), self.bad_blocks)

    def _fail(self, error: type[LoadProfileError], problem: str) -> LoadProfileError:
        return error(f"load profile: {problem}", self.data)

    def _record(self, pos: int) -> int:
        head = self.data[pos : pos + 2]
        if head not in (START, BAD_BLOCK):
            raise self._fail(RecordLengthError, f"byte {pos}: {head.hex(' ')} is not A0 A0")
        if pos + 3 > len(self.data):
            raise self._fail(RecordLengthError, f"byte {pos}: record cut before its length")
        length = self.data[pos + 2]
        body_end = pos + 3 + length
        if length < _TIME.length or body_end + 2 > len(self.data):
            raise self._fail(
                RecordLengthError,
                f"byte {pos}: length {length} does not fit the {len(self.data) - pos} bytes left",
            )
        if self.data[body_end + 1] != END:
            raise self._fail(RecordEndError, f"byte {body_end + 1}: record does not end in E5")
        if head == BAD_BLOCK:
            self.bad_blocks += 1
            return body_end + 2
        if sum(self.data[pos:body_end]) & 0xFF != self.data[body_end]:
            raise self._fail(RecordChecksumError, f"byte {body_end}: checksum does not match")
        when = _TIME.decode(self.data[pos + 3 : pos + 8])
        if not isinstance(when, datetime):
            raise self._fail(RecordLengthError, f"byte {pos + 3}: storage time is not a time")
        self.records.append(LoadRecord(when, self._blocks(self.data[pos + 8 : body_end])))
        return body_end + 2

    def _blocks(self, body: bytes) -> dict[str, Value]:
        values: dict[str, Value] = {}
        classes = CLASSES
        if self.profile_class and body[:1] != bytes((SEPARATOR,)):
            # A single-class reply may leave the separators of the classes before it out.
            classes = CLASSES[self.profile_class - 1 :]
        pos = 0
        for cls in classes:
            if pos >= len(body):
                break
            if body[pos] == SEPARATOR:
                pos += 1
                continue
            end = pos + cls.length
            # AA is no BCD digit pair, so inside a block it means the block is short.
            if end >= len(body) or body[end] != SEPARATOR or SEPARATOR in body[pos:end]:
                raise self._fail(
                    RecordLengthError,
                    f"class {cls.number} ({cls.title}) is not {cls.length} bytes then AA",
                )
            offset = pos
            for name, fmt in cls.fields:
                values[name] = fmt.decode(body[offset : offset + fmt.length])
                offset += fmt.length
            pos = end + 1
        if pos != len(body):
            raise self._fail(RecordLengthError, f"{len(body) - pos} bytes after class 6")
        return values


def parse_records(data: bytes, profile_class: int = 0) -> LoadProfile:
    """The records in a reply's data after the DI (all follow-up parts joined)."""
    return _Reader(bytes(data), profile_class).run()


def encode_record(
    record: LoadRecord, classes: frozenset[int] = frozenset(range(1, 7)), *, bad: bool = False
) -> bytes:
    """One record's bytes; a class not in ``classes`` is only its separator.

    The simulator's encoder; a value missing from ``record.values`` is sent as the 0xFF fill.
    """
    body = bytearray(_TIME.encode(record.time))
    for cls in CLASSES:
        if cls.number in classes:
            for name, fmt in cls.fields:
                body += fmt.encode(record.values.get(name, NotAvailable("not recorded")))
        body.append(SEPARATOR)
    if len(body) > 0xFF:
        raise EncodeError(f"load profile record of {len(body)} bytes does not fit its length")
    raw = (BAD_BLOCK if bad else START) + bytes((len(body),)) + bytes(body)
    return raw + bytes((sum(raw) & 0xFF, END))
