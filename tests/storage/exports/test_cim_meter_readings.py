"""The MeterReadings document against the IEC 61968-9 Ed. 2 message schema's sequences.

The element orders below are those of ``MeterReadings.xsd`` (namespace
``http://iec.ch/TC57/2011/MeterReadings#``, as published with the EPRI/IEC interoperability
WSDLs, e.g. ``61968-9/wsdl/xsd/MeterReadings.xsd`` in github.com/sixthcolumn/openwms): each
list is the schema's ``xs:sequence`` for that type, so a document whose children come in
another order, or with elements the type does not have, fails here as it fails validation.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from storage.errors import ExportError
from storage.exports.change_log import ChangedReading
from storage.exports.cim_meter_readings import (
    NAMESPACE,
    MeterIdentity,
    exportable,
    meter_readings_xml,
)
from storage.records import Quality

SEQUENCES = {
    "MeterReadings": ["EndDeviceEventType", "MeterReading", "ReadingQualityType", "ReadingType"],
    "MeterReading": [
        "isCoincidentTrigger",
        "EndDeviceEvents",
        "IntervalBlocks",
        "Meter",
        "Readings",
        "UsagePoint",
        "valuesInterval",
    ],
    "Meter": ["mRID", "Names", "status"],
    "Readings": [
        "reason",
        "reportedDateTime",
        "source",
        "timeStamp",
        "value",
        "ReadingQualities",
        "ReadingType",
        "timePeriod",
    ],
    "ReadingQualities": ["comment", "source", "timeStamp", "ReadingQualityType"],
    "ReadingType": [
        "mRID",
        "accumulation",
        "aggregate",
        "commodity",
        "consumptionTier",
        "cpp",
        "currency",
        "flowDirection",
        "macroPeriod",
        "measurementKind",
        "measuringPeriod",
        "multiplier",
        "phases",
        "tou",
        "unit",
        "argument",
        "interharmonic",
        "Names",
    ],
    "UsagePoint": ["mRID", "Names"],
    "Names": ["name", "NameType"],
    "NameType": ["description", "name", "NameTypeAuthority"],
    "NameTypeAuthority": ["description", "name"],
}
REQUIRED = {
    "ReadingType": {"Names"},
    "Names": {"name"},
    "ReadingQualities": {"ReadingQualityType"},
    "NameTypeAuthority": {"name"},
}
AT = datetime(2026, 7, 17, 16, 0, tzinfo=UTC)


def entry(seq: int, meter: str, quantity: str, value: float, quality: Quality) -> ChangedReading:
    return ChangedReading(seq, meter, quantity, AT, value, "kWh", quality)


ROWS = [
    entry(7, "m1", "energy_active_import_total", 1234.5, Quality.ACTUAL),
    entry(8, "m1", "energy_active_import_t1", 185.25, Quality.ACTUAL),
    entry(9, "m2", "energy_active_import_total", 99.0, Quality.BACKFILLED),
    entry(10, "m2", "energy_active_import_total", 99.5, Quality.ESTIMATED),
]


def local(element: ET.Element) -> str:
    return element.tag.removeprefix(f"{{{NAMESPACE}}}")


REFERENCES = {("Readings", "ReadingType"), ("ReadingQualities", "ReadingQualityType")}
"""Elements that only point at a type by its mRID (``ref``): empty, the attribute required."""


def check_order(element: ET.Element, parent: str = "") -> None:
    """Every child is allowed by its parent's sequence, in its order, recursively."""
    name = local(element)
    if (parent, name) in REFERENCES:
        assert list(element) == [], (parent, name)
        assert element.get("ref"), (parent, name)
        return
    sequence = SEQUENCES.get(name)
    children = [local(child) for child in element]
    if sequence is None:
        assert children == [], f"{name} is a simple element, has {children}"
        return
    assert set(children) <= set(sequence), (name, children)
    positions = [sequence.index(child) for child in children]
    assert positions == sorted(positions), (name, children)
    assert REQUIRED.get(name, set()) <= set(children), (name, children)
    for child in element:
        assert child.tag.startswith(f"{{{NAMESPACE}}}"), child.tag
        check_order(child, name)


def test_the_document_follows_the_schema_order_with_one_reading_type_per_register() -> None:
    identities = {
        "m1": MeterIdentity(asset="ZC-0001", account="4400012345", address="000000000001")
    }
    document = ET.fromstring(meter_readings_xml(ROWS, identities))
    assert document.tag == f"{{{NAMESPACE}}}MeterReadings"
    check_order(document)
    ns = {"m": NAMESPACE}
    meters = document.findall("m:MeterReading", ns)
    assert [m.findtext("m:Meter/m:mRID", namespaces=ns) for m in meters] == ["m1", "m2"]
    first = meters[0]
    assert first.findtext("m:Meter/m:Names/m:name", namespaces=ns) == "ZC-0001"
    assert first.findtext("m:UsagePoint/m:mRID", namespaces=ns) == "4400012345"
    assert meters[1].find("m:UsagePoint", ns) is None  # no account known: no usage point
    readings = [
        (
            r.findtext("m:timeStamp", namespaces=ns),
            float(r.findtext("m:value", namespaces=ns) or "nan"),
            r.find("m:ReadingType", ns).get("ref"),  # type: ignore[union-attr]
            r.find("m:ReadingQualities/m:ReadingQualityType", ns).get("ref"),  # type: ignore[union-attr]
        )
        for m in meters
        for r in m.findall("m:Readings", ns)
    ]
    total, tariff = (
        "11.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0",
        "11.0.0.1.1.1.12.0.0.0.0.1.0.0.0.3.72.0",
    )
    assert readings == [
        ("2026-07-17T16:00:00Z", 1234.5, total, "1.0.0"),
        ("2026-07-17T16:00:00Z", 185.25, tariff, "1.0.0"),
        ("2026-07-17T16:00:00Z", 99.0, total, "1.0.0"),
        ("2026-07-17T16:00:00Z", 99.5, total, "2.8.0"),
    ]
    types = document.findall("m:ReadingType", ns)
    assert [t.findtext("m:mRID", namespaces=ns) for t in types] == [total, tariff]
    fields = {child.tag.split("}")[1]: child.text for child in types[1]}
    assert fields["tou"] == "1"
    assert (fields["macroPeriod"], fields["unit"], fields["multiplier"]) == ("daily", "Wh", "k")


def test_a_register_without_a_reading_type_is_refused_by_name_and_filtered_by_exportable() -> None:
    odd = entry(11, "m3", "energy_reactive_import_total", 5.0, Quality.ACTUAL)
    with pytest.raises(ExportError, match="m3/energy_reactive_import_total"):
        meter_readings_xml([odd])
    assert exportable([*ROWS, odd]) == ROWS


def test_no_rows_is_an_empty_document() -> None:
    document = ET.fromstring(meter_readings_xml([]))
    assert (document.tag, list(document)) == (f"{{{NAMESPACE}}}MeterReadings", [])


def test_the_document_validates_against_a_copy_of_the_published_schema() -> None:
    """Run where a copy of ``MeterReadings.xsd`` (IEC 61968-9 Ed. 2, 2011 namespace) is at
    ``$HEADEND_CIM_METER_READINGS_XSD`` and lxml is installed: the schema is the IEC's and is
    not shipped in this repository, so the order test above stands in for it everywhere else."""
    location = os.environ.get("HEADEND_CIM_METER_READINGS_XSD")
    if not location:
        pytest.skip("HEADEND_CIM_METER_READINGS_XSD not set (no copy of the IEC schema here)")
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(location))
    identities = {"m1": MeterIdentity(asset="ZC-0001", account="4400012345", address="0001")}
    document = etree.fromstring(meter_readings_xml(ROWS, identities))
    assert schema.validate(document), schema.error_log
