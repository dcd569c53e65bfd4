"""Against a real VictoriaMetrics: the v2 sink (influxdb-client) and the v1 sink both land."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.line_protocol import timestamp_ns
from storage.records import Reading, ReadingKind
from storage.retry import RetryPolicy
from tests.support.influx_servers import VictoriaMetrics

FAST = RetryPolicy(attempts=2, initial_delay_s=0.0)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _readings(meter: str, count: int) -> list[Reading]:
    return [
        Reading(
            meter,
            "energy_active_import_total",
            100.0 + i,
            "kWh",
            T0 + timedelta(minutes=15 * i),
            ReadingKind.ENERGY,
            tags={"transformer": "T1", "phase": "A"},
        )
        for i in range(count)
    ]


async def test_v2_sink_writes_batches_with_gzip(victoria_metrics: VictoriaMetrics) -> None:
    readings = _readings("V2METER", 25)
    sink = InfluxV2Sink(victoria_metrics.url, bucket="b", org="o", batch_size=10, retry=FAST)
    try:
        await sink.write(readings)
    finally:
        await sink.aclose()
    [series] = victoria_metrics.export('energy_value{meter="V2METER"}')
    assert series["metric"]["transformer"] == "T1"
    assert series["metric"]["unit"] == "kWh"
    assert series["values"] == [r.value for r in readings]
    assert series["timestamps"] == [timestamp_ns(r.timestamp) // 1_000_000 for r in readings]


async def test_v1_sink_writes_to_the_same_server(victoria_metrics: VictoriaMetrics) -> None:
    readings = _readings("V1METER", 3)
    sink = InfluxV1Sink(victoria_metrics.url, database="db", gzip_level=None, retry=FAST)
    try:
        await sink.write(readings)
    finally:
        await sink.aclose()
    [series] = victoria_metrics.export('energy_value{meter="V1METER"}')
    assert series["values"] == [100.0, 101.0, 102.0]
