"""Against a real InfluxDB 1.6: the v1 sink, InfluxQL billing, escaping, rejected lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.billing import billing_report
from storage.errors import BadLineError, WriteRejected
from storage.influx_v1 import InfluxV1Sink
from storage.influxql import InfluxQLBillingSource
from storage.records import CollectionOutcome, CollectionStatus, EventRecord, Reading, ReadingKind
from storage.retry import RetryPolicy
from tests.storage.billing_cases import CHINA, DAY1, DAY3, check_report, scenario
from tests.support.influx_servers import InfluxDB16

FAST = RetryPolicy(attempts=2, initial_delay_s=0.0)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ODD_KEY = "odd key=, 键"
NASTY = ["a,b", "a=b", "a b", 'q"uote', "back\\slash", "中文", "x'y", ",= \\x"]


async def test_billing_report_over_influxql(influxdb16: InfluxDB16, influx_database: str) -> None:
    sink = InfluxV1Sink(influxdb16.url, database=influx_database, retry=FAST)
    source = InfluxQLBillingSource(influxdb16.url, database=influx_database)
    try:
        await sink.write(scenario())
        report = await billing_report(source, transformer="T1", start=DAY1, end=DAY3, tz=CHINA)
    finally:
        await sink.aclose()
        await source.aclose()
    check_report(report)


async def test_every_special_character_round_trips(
    influxdb16: InfluxDB16, influx_database: str
) -> None:
    readings = [
        Reading(f"M{i}", "voltage_a", 230.0 + i, "V", T0, tags={"building": text, ODD_KEY: "v"})
        for i, text in enumerate(NASTY)
    ]
    event = EventRecord("M0", "note", T0, detail='quote " and backslash \\ and, comma= ')
    sink = InfluxV1Sink(influxdb16.url, database=influx_database, retry=FAST)
    try:
        await sink.write([*readings, event])
    finally:
        await sink.aclose()
    result = influxdb16.query(
        'SELECT "value", "building" FROM "instant" GROUP BY "meter"', influx_database
    )
    stored = {
        series["tags"]["meter"]: (series["values"][0][1], series["values"][0][2])
        for series in result["series"]
    }
    assert stored == {f"M{i}": (230.0 + i, text) for i, text in enumerate(NASTY)}
    keys = influxdb16.query('SHOW TAG KEYS FROM "instant"', influx_database)
    assert [ODD_KEY] in keys["series"][0]["values"]
    detail = influxdb16.query('SELECT "detail" FROM "event"', influx_database)
    assert detail["series"][0]["values"][0][1] == event.detail


async def test_events_and_status_are_queryable(
    influxdb16: InfluxDB16, influx_database: str
) -> None:
    status = CollectionStatus("M1", T0, CollectionOutcome.PARTIAL, 10, 7, 0.5, "timeout")
    event = EventRecord("M1", "voltage_low", T0, value=180.0, tags={"transformer": "T1"})
    sink = InfluxV1Sink(influxdb16.url, database=influx_database, retry=FAST)
    try:
        await sink.write([status, event])
    finally:
        await sink.aclose()
    rows = influxdb16.query(
        'SELECT "attempted", "succeeded", "quality" FROM "collection"', influx_database
    )
    assert rows["series"][0]["values"][0][1:] == [10, 7, "actual"]
    events = influxdb16.query(
        'SELECT "value" FROM "event" WHERE "transformer" = \'T1\'', influx_database
    )
    assert events["series"][0]["values"][0][1] == 180.0


async def test_bad_line_is_reported_as_bad_line(
    influxdb16: InfluxDB16, influx_database: str
) -> None:
    sink = InfluxV1Sink(influxdb16.url, database=influx_database, retry=FAST)
    try:
        with pytest.raises(BadLineError, match="HTTP 400") as caught:
            await sink.write_lines([b"not line protocol"])
    finally:
        await sink.aclose()
    assert caught.value.status == 400


async def test_unknown_database_is_not_retried_forever(influxdb16: InfluxDB16) -> None:
    sink = InfluxV1Sink(influxdb16.url, database="never_created", retry=FAST)
    reading = Reading("M1", "energy", 1.0, "kWh", T0, ReadingKind.ENERGY)
    try:
        with pytest.raises(WriteRejected, match="database not found") as caught:
            await sink.write([reading])
    finally:
        await sink.aclose()
    assert caught.value.status == 404


async def test_billing_for_meter_ids_that_need_quoting(
    influxdb16: InfluxDB16, influx_database: str
) -> None:
    meter = "O'Brien\\7 x"
    reading = Reading(meter, "energy_active_import_total", 42.0, "kWh", T0, ReadingKind.FROZEN)
    sink = InfluxV1Sink(influxdb16.url, database=influx_database, retry=FAST)
    source = InfluxQLBillingSource(influxdb16.url, database=influx_database)
    try:
        await sink.write([reading])
        report = await billing_report(source, meters=[meter], start=T0.date(), end=T0.date())
    finally:
        await sink.aclose()
        await source.aclose()
    assert [(row.meter, row.value) for row in report.daily] == [(meter, 42.0)]
