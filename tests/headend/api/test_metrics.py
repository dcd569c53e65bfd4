"""``/metrics``: Prometheus text format with the engine's own counters."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from headend.api import create_app
from headend.api.metrics import backfill_families, mqtt_families, render
from headend.collection.backfill import BackfillStats
from headend.mqtt.bridge import MqttStats
from storage.outbox import OutboxStats
from tests.headend.api.fleet import TOKENS, LiveFleet, live_fleet, next_reading

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="[^"]*",?)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)$')


def samples(text: str) -> dict[str, float]:
    """Every sample line (name with labels -> value); fails on any malformed line."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ ", line), line
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        key, value = line.rsplit(" ", 1)
        found[key] = float(value)
    return found


async def test_metrics_count_successful_reads_per_channel(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    await next_reading(fleet.engine, "m1", "voltage_a")
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    succeeded = fleet.engine.collectors["bus-1"].stats.succeeded
    assert succeeded >= 1
    assert found['headend_reads_total{channel="bus-1",outcome="success"}'] >= 1
    assert 0 < found['headend_read_success_ratio{channel="bus-1"}'] <= 1
    assert 0 <= found['headend_bus_utilisation{channel="bus-1"}'] <= 1
    assert 'headend_collection_lag_seconds{channel="bus-1"}' in found
    assert 'headend_queue_depth{channel="bus-1"}' in found
    assert found["headend_sink_errors_total"] == 0
    assert found['headend_meters{status="online"}'] == 2
    assert found['headend_reads_scheduled_total{channel="bus-1"}'] >= succeeded
    assert found['headend_reads_skipped_offline_total{channel="bus-1"}'] == 0
    assert (
        found['headend_collection_lag_max_seconds{channel="bus-1"}']
        >= found['headend_collection_lag_seconds{channel="bus-1"}']
    )
    assert 'headend_backfill_values_total{quality="backfilled"}' in found
    assert "headend_outbox_depth" not in found
    assert "headend_mqtt_messages_total" not in found  # no broker configured


async def test_outbox_gauges_appear_when_an_outbox_is_given(fleet: LiveFleet) -> None:
    stats = OutboxStats(
        pending_points=120,
        pending_bytes=250,
        capacity_bytes=1000,
        delivered_points=7,
        dead_letter_points=1,
        target_up=False,
    )
    app = create_app(fleet.engine, tokens=TOKENS, outbox_stats=lambda: stats)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
        found = samples((await http.get("/metrics")).text)
    assert found["headend_outbox_depth"] == stats.pending_points
    assert found["headend_outbox_pending_bytes"] == stats.pending_bytes
    assert found["headend_outbox_fill_ratio"] == pytest.approx(stats.fill_ratio)
    assert found["headend_outbox_target_up"] == 0


def test_mqtt_and_backfill_counters_are_exported_as_counted() -> None:
    mqtt = MqttStats(
        messages_in=10,
        readings_in=40,
        bad_payloads=2,
        skipped_items=3,
        published=50,
        dropped_outgoing=4,
        connections=2,
        requests=1,
        bad_by_topic={"terminal/T1/telemetry": 5},
        problems={("terminal/T1/telemetry", "not_json"): 5},
        duplicates=6,
        refused_requests={("bad_token", "ops"): 2},
    )
    backfill = BackfillStats(passes=3, actual=20, backfilled=6, failures=7, given_up=1)
    found = samples(render([*mqtt_families(mqtt), *backfill_families(backfill)]))
    assert found == {
        "headend_mqtt_messages_total": 10,
        "headend_mqtt_readings_total": 40,
        "headend_mqtt_bad_payloads_total": 2,
        'headend_mqtt_problems_total{topic="terminal/T1/telemetry"}': 5,
        "headend_mqtt_skipped_items_total": 3,
        "headend_mqtt_published_total": 50,
        "headend_mqtt_dropped_outgoing_total": 4,
        "headend_mqtt_connections_total": 2,
        "headend_mqtt_requests_total": 1,
        'headend_mqtt_problems_by_reason_total{reason="not_json",topic="terminal/T1/telemetry"}': 5,
        "headend_mqtt_duplicates_total": 6,
        'headend_mqtt_refused_requests_total{reason="bad_token",requester="ops"}': 2,
        "headend_backfill_passes_total": 3,
        'headend_backfill_values_total{quality="actual"}': 20,
        'headend_backfill_values_total{quality="backfilled"}': 6,
        "headend_backfill_failures_total": 7,
        "headend_backfill_given_up_total": 1,
    }


def test_label_values_are_escaped() -> None:
    family = CounterMetricFamily("x_total", "test", labels=["channel"])
    family.add_metric(['a"b\\c\nd'], 1.5)
    assert render([family]).splitlines()[-1] == 'x_total{channel="a\\"b\\\\c\\nd"} 1.5'


FAMILY_TYPES = {
    "headend_reads": "counter",
    "headend_read_success_ratio": "gauge",
    "headend_bus_utilisation": "gauge",
    "headend_collection_lag_seconds": "gauge",
    "headend_collection_lag_max_seconds": "gauge",
    "headend_reads_scheduled": "counter",
    "headend_reads_skipped_offline": "counter",
    "headend_queue_depth": "gauge",
    "headend_bus_overruns": "counter",
    "headend_bus_retries": "counter",
    "headend_bus_reconnects": "counter",
    "headend_bus_failures": "counter",
    "headend_meters": "gauge",
    "headend_alarms_open": "gauge",
    "headend_records_written": "counter",
    "headend_writer_pending": "gauge",
    "headend_sink_errors": "counter",
    "headend_storage_state": "gauge",
    "headend_storage_dropped": "counter",
    "headend_writer_buffer_limit": "gauge",
    "headend_storage_dead_letters": "counter",
    "headend_backfill_passes": "counter",
    "headend_backfill_values": "counter",
    "headend_backfill_failures": "counter",
    "headend_backfill_given_up": "counter",
    "headend_readings_unit_converted": "counter",
    "headend_readings_unit_refused": "counter",
    "headend_outbox_depth": "gauge",
    "headend_outbox_pending_bytes": "gauge",
    "headend_outbox_fill_ratio": "gauge",
    "headend_outbox_delivered": "counter",
    "headend_outbox_dead_letters": "counter",
    "headend_outbox_target_up": "gauge",
    "headend_api_refused": "counter",
    "headend_archive_refused": "counter",
    "headend_api_stream_clients": "gauge",
    "headend_incidents_active": "gauge",
    "headend_notifications": "counter",
    "headend_incident_store_errors": "counter",
}
"""Every family /metrics serves without a broker (docs/api.md), as the parser names them:
counters without their ``_total``, which their samples carry."""

MQTT_TYPES = {
    name: "counter"
    for name in (
        "headend_mqtt_messages",
        "headend_mqtt_readings",
        "headend_mqtt_bad_payloads",
        "headend_mqtt_problems",
        "headend_mqtt_skipped_items",
        "headend_mqtt_published",
        "headend_mqtt_dropped_outgoing",
        "headend_mqtt_connections",
        "headend_mqtt_requests",
        "headend_mqtt_problems_by_reason",
        "headend_mqtt_duplicates",
        "headend_mqtt_refused_requests",
    )
}

OUTBOX = OutboxStats(
    pending_points=3,
    pending_bytes=90,
    capacity_bytes=900,
    delivered_points=11,
    dead_letter_points=2,
    target_up=True,
)


def parsed(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family: Metric, **labels: str) -> float:
    [sample] = [s for s in family.samples if s.labels == labels]
    return sample.value


async def test_every_family_parses_with_its_type_and_the_engines_counts(fleet: LiveFleet) -> None:
    await next_reading(fleet.engine, "m1", "voltage_a")
    app = create_app(fleet.engine, tokens=TOKENS, outbox_stats=lambda: OUTBOX)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
        served = parsed((await http.get("/metrics")).text)
    assert {name: family.type for name, family in served.items()} == FAMILY_TYPES
    assert all(s.name.endswith("_total") for s in served["headend_reads"].samples)

    # The counters move while the engine collects: scrape and read them with no await between.
    registry: CollectorRegistry = app.state.metrics_registry
    found = parsed(generate_latest(registry).decode())
    engine = fleet.engine
    stats = engine.collectors["bus-1"].stats
    assert stats.succeeded >= 1
    reads = found["headend_reads"]
    assert value(reads, channel="bus-1", outcome="success") == stats.succeeded
    assert value(reads, channel="bus-1", outcome="failure") == stats.failed
    assert value(found["headend_reads_scheduled"], channel="bus-1") == stats.scheduled
    assert value(found["headend_queue_depth"], channel="bus-1") == engine.workers["bus-1"].depth()
    assert value(found["headend_records_written"]) == engine.writer.stats.written
    assert value(found["headend_meters"], status="online") == len(engine.registry) == 2
    assert value(found["headend_storage_state"], state="ok") == 1
    assert value(found["headend_writer_buffer_limit"]) == engine.writer.limits.limit
    assert value(found["headend_backfill_passes"]) == engine.backfill.stats.passes
    assert value(found["headend_outbox_delivered"]) == OUTBOX.delivered_points
    assert value(found["headend_outbox_fill_ratio"]) == pytest.approx(OUTBOX.fill_ratio)
    assert value(found["headend_api_stream_clients"]) == 0


def test_mqtt_families_parse_as_counters_with_their_labels() -> None:
    stats = MqttStats(
        messages_in=9,
        problems={("terminal/T2/telemetry", "too_large"): 4},
        refused_requests={("not_allowed", "?"): 1},
    )
    found = parsed(render(mqtt_families(stats)))
    assert {name: family.type for name, family in found.items()} == MQTT_TYPES
    assert value(found["headend_mqtt_messages"]) == 9
    by_reason = found["headend_mqtt_problems_by_reason"]
    assert value(by_reason, topic="terminal/T2/telemetry", reason="too_large") == 4
    assert value(found["headend_mqtt_refused_requests"], reason="not_allowed", requester="?") == 1


async def test_each_app_has_its_own_registry_and_the_global_one_stays_empty(
    fleet: LiveFleet, tmp_path: Path
) -> None:
    async with live_fleet(tmp_path / "second") as second:
        await next_reading(fleet.engine, "m1", "voltage_a")
        first_app = create_app(fleet.engine, tokens=TOKENS)
        second_app = create_app(second.engine, tokens=TOKENS)
        first = parsed(generate_latest(first_app.state.metrics_registry).decode())
        succeeded = fleet.engine.collectors["bus-1"].stats.succeeded
        other = parsed(generate_latest(second_app.state.metrics_registry).decode())
        other_succeeded = second.engine.collectors["bus-1"].stats.succeeded
    assert value(first["headend_reads"], channel="bus-1", outcome="success") == succeeded
    assert value(other["headend_reads"], channel="bus-1", outcome="success") == other_succeeded
    assert not any(family.name.startswith("headend_") for family in REGISTRY.collect())
