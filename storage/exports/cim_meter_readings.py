"""IEC 61968-9 ``MeterReadings`` (CIM XML) from change-log entries: rows in, bytes out, no I/O.

The structure follows the ``MeterReadings`` message schema of IEC 61968-9 Ed. 2 (namespace
``http://iec.ch/TC57/2011/MeterReadings#``, as published with the EPRI/IEC interoperability
test WSDLs, e.g. ``61968-9/wsdl/xsd/MeterReadings.xsd`` in github.com/sixthcolumn/openwms),
element order as its sequences give it:

- ``MeterReadings``: ``MeterReading``\\*, then ``ReadingType``\\* (each type used, once);
- ``MeterReading``: ``Meter`` (``mRID``, ``Names``), ``Readings``\\*, ``UsagePoint``;
- ``Readings``: ``reason``, ``timeStamp``, ``value``, ``ReadingQualities``, ``ReadingType ref``;
- ``ReadingType``: ``mRID`` then its attributes in the schema's (alphabetical) order, then
  ``Names`` (required).

ReadingType mRIDs are the 18-field CIM codes (macroPeriod.aggregate.measuringPeriod.
accumulation.flowDirection.commodity.measurementKind.interharmonic(2).argument(2).tou.cpp.
consumptionTier.phases.multiplier.unit.currency): ``11.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0`` is
a daily (11) bulk (1) forward (1) secondary-metered electricity (1) energy (12) register in
kWh (3 = kilo, 72 = Wh), the code used for a daily A+ kWh register in e.g. Honeywell/Elster
Connexo's published tests; ``tou`` 1..4 marks the tariff registers.

Qualities: ``ReadingQualityType`` codes are system.category.subcategory (IEC 61968-9 Annex):
``1.0.0`` valid data from the end device (our ``actual`` and ``backfilled``: both are the
meter's own frozen value; the comment says which path brought it), ``2.8.0`` estimated by the
metering system.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from storage.errors import ExportError
from storage.exports.change_log import ChangedReading
from storage.records import Quality

NAMESPACE: Final = "http://iec.ch/TC57/2011/MeterReadings#"
NAME_AUTHORITY: Final = "meter archive"
"""Who issues a meter's asset number and address (the utility's archive, 档案)."""
VALID_FROM_DEVICE: Final = "1.0.0"
ESTIMATED_BY_SYSTEM: Final = "2.8.0"
_QUALITY_CODES: Final = {
    Quality.ACTUAL: VALID_FROM_DEVICE,
    Quality.BACKFILLED: VALID_FROM_DEVICE,
    Quality.ESTIMATED: ESTIMATED_BY_SYSTEM,
}


@dataclass(frozen=True, slots=True)
class CimReadingType:
    """One CIM ReadingType: its mRID, name and the attributes the mRID encodes."""

    mrid: str
    name: str
    tou: int = 0

    def attributes(self) -> list[tuple[str, str]]:
        """The attribute elements in the schema's order (after ``mRID``)."""
        fields = [
            ("accumulation", "bulkQuantity"),
            ("commodity", "electricitySecondaryMetered"),
            ("flowDirection", "forward"),
            ("macroPeriod", "daily"),
            ("measurementKind", "energy"),
            ("multiplier", "k"),
        ]
        if self.tou:
            fields.append(("tou", str(self.tou)))
        fields.append(("unit", "Wh"))
        return fields


def _daily_forward(tou: int) -> CimReadingType:
    tariff = f" T{tou}" if tou else ""
    name = f"Daily forward active energy{tariff} (kWh)"
    return CimReadingType(f"11.0.0.1.1.1.12.0.0.0.0.{tou}.0.0.0.3.72.0", name, tou)


READING_TYPES: Final[Mapping[str, CimReadingType]] = {
    "energy_active_import_total": _daily_forward(0),
    **{f"energy_active_import_t{n}": _daily_forward(n) for n in range(1, 5)},
}
"""Stored register name (kind frozen) -> its ReadingType. Only kWh registers are logged."""


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """How the consumer knows a meter: its asset number and the usage point (account)."""

    asset: str = ""
    account: str = ""
    address: str = ""


def reading_type_of(row: ChangedReading) -> CimReadingType:
    """The row's ReadingType; ``ExportError`` for a register (or unit) without one."""
    found = READING_TYPES.get(row.quantity)
    if found is None or row.unit != "kWh":
        raise ExportError(
            f"change log entry {row.seq} ({row.meter}/{row.quantity} in {row.unit!r}): "
            "no CIM ReadingType for this register"
        )
    return found


def meter_readings_xml(
    rows: Iterable[ChangedReading], identities: Mapping[str, MeterIdentity] | None = None
) -> bytes:
    """One ``MeterReadings`` document: a ``MeterReading`` per meter (first-seen order), its
    ``Readings`` in ``seq`` order, then each ReadingType used. Rows of registers without a
    ReadingType raise ``ExportError`` (filter them first with ``exportable``)."""
    known = identities or {}
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(_tag("MeterReadings"))
    by_meter: dict[str, ET.Element] = {}
    used: dict[str, CimReadingType] = {}
    for row in rows:
        kind = reading_type_of(row)
        used.setdefault(kind.mrid, kind)
        reading = by_meter.get(row.meter)
        if reading is None:
            reading = by_meter[row.meter] = _meter_reading(root, row.meter, known.get(row.meter))
        _readings(reading, row, kind)
    for meter, reading in by_meter.items():
        _usage_point(reading, meter, known.get(meter))
    for kind in used.values():
        _reading_type(root, kind)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def exportable(rows: Iterable[ChangedReading]) -> list[ChangedReading]:
    """The rows that have a CIM ReadingType (the others are named in the settlement CSV only)."""
    return [row for row in rows if row.quantity in READING_TYPES and row.unit == "kWh"]


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _text(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name))
    element.text = text
    return element


def _names(
    parent: ET.Element, name: str, kind: str | None = None, authority: str | None = None
) -> None:
    """``Names``; a ``Meter``'s ``NameType`` requires its ``NameTypeAuthority`` in the
    schema, a ``UsagePoint``'s has none."""
    names = ET.SubElement(parent, _tag("Names"))
    _text(names, "name", name)
    if kind is not None:
        name_type = ET.SubElement(names, _tag("NameType"))
        _text(name_type, "name", kind)
        if authority is not None:
            _text(ET.SubElement(name_type, _tag("NameTypeAuthority")), "name", authority)


def _meter_reading(root: ET.Element, meter: str, identity: MeterIdentity | None) -> ET.Element:
    reading = ET.SubElement(root, _tag("MeterReading"))
    device = ET.SubElement(reading, _tag("Meter"))
    _text(device, "mRID", meter)
    if identity is not None and identity.asset:
        _names(device, identity.asset, "asset number", NAME_AUTHORITY)
    if identity is not None and identity.address:
        _names(device, identity.address, "meter address", NAME_AUTHORITY)
    return reading


def _usage_point(reading: ET.Element, meter: str, identity: MeterIdentity | None) -> None:
    """The usage point is the customer's account when the archive has one (billing's key)."""
    if identity is None or not identity.account:
        return
    point = ET.SubElement(reading, _tag("UsagePoint"))
    _text(point, "mRID", identity.account)
    _names(point, identity.account, "account number")


def _readings(parent: ET.Element, row: ChangedReading, kind: CimReadingType) -> None:
    readings = ET.SubElement(parent, _tag("Readings"))
    _text(readings, "reason", "billing")
    _text(readings, "timeStamp", _utc(row.timestamp))
    _text(readings, "value", repr(row.value))
    quality = ET.SubElement(readings, _tag("ReadingQualities"))
    _text(quality, "comment", f"{row.quality.value} (change {row.seq})")
    ET.SubElement(quality, _tag("ReadingQualityType"), ref=_QUALITY_CODES.get(row.quality, "0.0.0"))
    ET.SubElement(readings, _tag("ReadingType"), ref=kind.mrid)


def _reading_type(root: ET.Element, kind: CimReadingType) -> None:
    element = ET.SubElement(root, _tag("ReadingType"))
    _text(element, "mRID", kind.mrid)
    for name, value in kind.attributes():
        _text(element, name, value)
    _names(element, kind.name)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
