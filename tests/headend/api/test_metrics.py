"""``/metrics``: Prometheus text format with the engine's own counters."""

from __future__ import annotations

import re

import httpx
import pytest

from headend.api import create_app
from headend.api.metrics import Family, backfill_families, mqtt_families, render
from headend.collection.backfill import BackfillStats
from headend.mqtt.bridge import MqttStats
from storage.outbox import OutboxStats
from tests.headend.api.fleet import TOKENS, LiveFleet, next_reading

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
        'headend_mqtt_problems_by_reason_total{topic="terminal/T1/telemetry",reason="not_json"}': 5,
        "headend_mqtt_duplicates_total": 6,
        'headend_mqtt_refused_requests_total{reason="bad_token",requester="ops"}': 2,
        "headend_backfill_passes_total": 3,
        'headend_backfill_values_total{quality="actual"}': 20,
        'headend_backfill_values_total{quality="backfilled"}': 6,
        "headend_backfill_failures_total": 7,
        "headend_backfill_given_up_total": 1,
    }


def test_label_values_are_escaped() -> None:
    family = Family("x_total", "counter", "test")
    family.add(1.5, channel='a"b\\c\nd')
    assert render([family]).splitlines()[-1] == 'x_total{channel="a\\"b\\\\c\\nd"} 1.5'
