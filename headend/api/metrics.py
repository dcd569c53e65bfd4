"""``/metrics``: the engine's own counters exposed with prometheus_client.

The engine already counts everything (collector, worker, writer, backfill, MQTT stats), so the
families are built from those counters when Prometheus scrapes, by custom collectors: nothing
is counted twice and the collection path does no metrics work. Each app gets its own
``CollectorRegistry`` (never the process-global one), so several engines in one process, as in
the tests, do not collide. Rates (reads/s) are left to Prometheus:
``rate(headend_reads_total[1m])``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from headend.api.facade import HeadendFacade
from headend.collection.backfill import BackfillStats
from headend.collection.writer import StorageState
from headend.mqtt.bridge import MqttStats
from headend.units import UnitGate
from storage.outbox import OutboxStats

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""What ``generate_latest`` writes: the text format 0.0.4 every Prometheus reads."""

Families = Callable[[], Iterable[Metric]]


class ScrapeCollector:
    """A prometheus_client collector that builds its families from live stats when scraped."""

    def __init__(self, families: Families) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families()


def metrics_registry(
    headend: HeadendFacade, outbox_stats: Callable[[], OutboxStats] | None, *more: Families
) -> CollectorRegistry:
    """A registry of the engine's families (and the outbox's, and ``more``) for one app."""

    def families() -> list[Metric]:
        return engine_families(headend, outbox_stats() if outbox_stats is not None else None)

    registry = CollectorRegistry()
    registry.register(ScrapeCollector(families))
    for source in more:
        registry.register(ScrapeCollector(source))
    return registry


def render(families: Iterable[Metric]) -> str:
    """Families in the text format, as ``/metrics`` writes them (for tests and tools)."""
    registry = CollectorRegistry()
    registry.register(ScrapeCollector(lambda: families))
    return generate_latest(registry).decode()


def engine_families(headend: HeadendFacade, outbox: OutboxStats | None) -> list[Metric]:
    families: list[Metric] = [*channel_families(headend), *fleet_families(headend)]
    families.extend(writer_families(headend))
    families.extend(backfill_families(headend.backfill_stats))
    families.extend(unit_families(headend.units))
    if headend.mqtt_stats is not None:
        families.extend(mqtt_families(headend.mqtt_stats))
    if headend.ocpp_counts is not None:
        families.extend(ocpp_families(*headend.ocpp_counts))
    if outbox is not None:
        families.extend(outbox_families(outbox))
    return families


def ocpp_families(refused: Mapping[str, int], orders: Mapping[str, int]) -> list[Metric]:
    """What the chargers were refused and how they answered the curb's orders."""
    refusals = CounterMetricFamily(
        "headend_ocpp_refused_total",
        "OCPP connections and frames refused (unknown_charger, bad_auth, bad_frame, "
        "skipped_sample).",
        labels=["kind"],
    )
    for kind, count in sorted(refused.items()):
        refusals.add_metric([kind], count)
    answers = CounterMetricFamily(
        "headend_ocpp_orders_total",
        "Charging-profile orders sent, by the charger's answer.",
        labels=["answer"],
    )
    for answer, count in sorted(orders.items()):
        answers.add_metric([answer], count)
    return [refusals, answers]


def channel_families(headend: HeadendFacade) -> list[Metric]:
    """Per bus channel: the scheduler's reads and the worker's bus."""
    reads = CounterMetricFamily(
        "headend_reads_total",
        "Scheduled reads by channel and outcome.",
        labels=["channel", "outcome"],
    )
    ratio = GaugeMetricFamily(
        "headend_read_success_ratio",
        "Succeeded / (succeeded + failed) scheduled reads since start; absent before any read.",
        labels=["channel"],
    )
    utilisation = GaugeMetricFamily(
        "headend_bus_utilisation", "Fraction of time the bus spent on requests.", labels=["channel"]
    )
    lag = GaugeMetricFamily(
        "headend_collection_lag_seconds",
        "How late the most recent scheduled read started after its due time.",
        labels=["channel"],
    )
    max_lag = GaugeMetricFamily(
        "headend_collection_lag_max_seconds",
        "The latest any scheduled read has started after its due time, since start.",
        labels=["channel"],
    )
    scheduled = CounterMetricFamily(
        "headend_reads_scheduled_total",
        "Reads the scheduler made due, by channel.",
        labels=["channel"],
    )
    skipped = CounterMetricFamily(
        "headend_reads_skipped_offline_total",
        "Scheduled reads not sent because the meter is offline (it is probed instead).",
        labels=["channel"],
    )
    depth = GaugeMetricFamily(
        "headend_queue_depth", "Requests waiting for the bus.", labels=["channel"]
    )
    overruns = CounterMetricFamily(
        "headend_bus_overruns_total",
        "Slots recorded missing because the bus was busy.",
        labels=["channel"],
    )
    retries = CounterMetricFamily(
        "headend_bus_retries_total", "Requests sent again after failing.", labels=["channel"]
    )
    reconnects = CounterMetricFamily(
        "headend_bus_reconnects_total", "Bus links reopened.", labels=["channel"]
    )
    failures = CounterMetricFamily(
        "headend_bus_failures_total", "Failed bus jobs by reason.", labels=["channel", "reason"]
    )
    for name, stats in headend.collection_stats().items():
        reads.add_metric([name, "success"], stats.succeeded)
        reads.add_metric([name, "failure"], stats.failed)
        done = stats.succeeded + stats.failed
        if done:
            ratio.add_metric([name], stats.succeeded / done)
        lag.add_metric([name], stats.lag_seconds)
        max_lag.add_metric([name], stats.max_lag_seconds)
        scheduled.add_metric([name], stats.scheduled)
        skipped.add_metric([name], stats.skipped_offline)
        overruns.add_metric([name], stats.overruns)
    for name, worker in headend.buses().items():
        utilisation.add_metric([name], worker.utilisation())
        depth.add_metric([name], worker.depth())
        retries.add_metric([name], worker.stats.retries)
        reconnects.add_metric([name], worker.stats.reconnects)
        for reason, count in sorted(worker.stats.failures.items()):
            failures.add_metric([name, reason], count)
    return [
        reads,
        ratio,
        utilisation,
        lag,
        max_lag,
        scheduled,
        skipped,
        depth,
        overruns,
        retries,
        reconnects,
        failures,
    ]


def fleet_families(headend: HeadendFacade) -> list[Metric]:
    meters = GaugeMetricFamily(
        "headend_meters", "Meters in the registry by status.", labels=["status"]
    )
    offline = len(headend.offline_meters())
    meters.add_metric(["online"], headend.meter_count() - offline)
    meters.add_metric(["offline"], offline)
    alarms = GaugeMetricFamily(
        "headend_alarms_open", "Open alarms by severity.", labels=["severity"]
    )
    for severity, count in sorted(Counter(a.severity for a in headend.open_alarms()).items()):
        alarms.add_metric([severity], count)
    return [meters, alarms]


def writer_families(headend: HeadendFacade) -> list[Metric]:
    """The record writer in front of the store: what it wrote, holds, and gave up."""
    writer = headend.writer_stats
    written = CounterMetricFamily(
        "headend_records_written_total", "Records handed to storage successfully.", writer.written
    )
    pending = GaugeMetricFamily(
        "headend_writer_pending", "Records waiting in the writer buffer.", writer.pending
    )
    sink_errors = CounterMetricFamily(
        "headend_sink_errors_total", "Failed writes to the sink.", writer.errors
    )
    state = GaugeMetricFamily(
        "headend_storage_state",
        "1 for the current state of the local store: ok, full (disk or outbox budget), failing.",
        labels=["state"],
    )
    for name in StorageState:
        state.add_metric([name.value], 1 if writer.state is name else 0)
    dropped = CounterMetricFamily(
        "headend_storage_dropped_total",
        "Records given up by the overflow policy while the store refused writes.",
        labels=["policy"],
    )
    dropped.add_metric([headend.writer_limits.overflow.value], writer.dropped)
    limit = GaugeMetricFamily(
        "headend_writer_buffer_limit",
        "Records the writer holds at most in RAM.",
        headend.writer_limits.limit,
    )
    set_aside = writer.refused + (headend.sink_dead_letters() or 0)
    dead_letters = CounterMetricFamily(
        "headend_storage_dead_letters_total",
        "Records and lines set aside in a dead_letter table (no stored form, or refused).",
        set_aside,
    )
    return [written, pending, sink_errors, state, dropped, limit, dead_letters]


def unit_families(gate: UnitGate) -> list[Metric]:
    """Readings made canonical on the way in (headend/units.py), and those refused for it."""
    converted = CounterMetricFamily(
        "headend_readings_unit_converted_total",
        "Readings converted to their quantity's canonical unit (e.g. W to kW).",
        gate.converted,
    )
    refused = CounterMetricFamily(
        "headend_readings_unit_refused_total",
        "Readings dropped because their unit cannot be converted, by quantity and unit.",
        labels=["quantity", "unit"],
    )
    for (quantity, unit), count in sorted(gate.refused.items()):
        refused.add_metric([quantity, unit], count)
    return [converted, refused]


def backfill_families(stats: BackfillStats) -> list[Metric]:
    """Frozen-value backfill (补抄): is it catching up, and what is it giving up on."""
    passes = CounterMetricFamily(
        "headend_backfill_passes_total", "Backfill passes run.", stats.passes
    )
    values = CounterMetricFamily(
        "headend_backfill_values_total",
        "Frozen values read by backfill, by quality (actual: read on the day it froze).",
        labels=["quality"],
    )
    values.add_metric(["actual"], stats.actual)
    values.add_metric(["backfilled"], stats.backfilled)
    failures = CounterMetricFamily(
        "headend_backfill_failures_total", "Frozen-value reads that failed.", stats.failures
    )
    given_up = CounterMetricFamily(
        "headend_backfill_given_up_total",
        "Days left uncollected because the meter no longer holds their freeze.",
        stats.given_up,
    )
    return [passes, values, failures, given_up]


def mqtt_families(stats: MqttStats) -> list[Metric]:
    """Terminal telemetry in and our messages out."""
    problems = CounterMetricFamily(
        "headend_mqtt_problems_total",
        "Refused terminal messages and dropped items in them, by topic.",
        labels=["topic"],
    )
    for topic, count in sorted(stats.bad_by_topic.items()):
        problems.add_metric([topic], count)
    reasons = CounterMetricFamily(
        "headend_mqtt_problems_by_reason_total",
        "Refused terminal messages and dropped items, by topic and reason (too_large, too_deep, "
        "not_json, bad_value, bad_timestamp, ...).",
        labels=["topic", "reason"],
    )
    for (topic, reason), count in sorted(stats.problems.items()):
        reasons.add_metric([topic, reason], count)
    refused = CounterMetricFamily(
        "headend_mqtt_refused_requests_total",
        "MQTT requests refused, by reason and configured requester ('?' for anyone else).",
        labels=["reason", "requester"],
    )
    for (reason, requester), count in sorted(stats.refused_requests.items()):
        refused.add_metric([reason, requester], count)
    return [
        CounterMetricFamily(
            "headend_mqtt_messages_total", "Terminal messages received.", stats.messages_in
        ),
        CounterMetricFamily(
            "headend_mqtt_readings_total",
            "Readings taken from terminal messages.",
            stats.readings_in,
        ),
        CounterMetricFamily(
            "headend_mqtt_bad_payloads_total",
            "Terminal messages refused as a whole.",
            stats.bad_payloads,
        ),
        problems,
        CounterMetricFamily(
            "headend_mqtt_skipped_items_total",
            "Items dropped from otherwise good terminal messages.",
            stats.skipped_items,
        ),
        CounterMetricFamily(
            "headend_mqtt_published_total", "Messages we published.", stats.published
        ),
        CounterMetricFamily(
            "headend_mqtt_dropped_outgoing_total",
            "Messages dropped from the full outgoing queue while the broker was away (oldest "
            "first).",
            stats.dropped_outgoing,
        ),
        CounterMetricFamily(
            "headend_mqtt_connections_total", "Connections made to the broker.", stats.connections
        ),
        CounterMetricFamily(
            "headend_mqtt_requests_total",
            "Read and clock requests answered over MQTT.",
            stats.requests,
        ),
        reasons,
        CounterMetricFamily(
            "headend_mqtt_duplicates_total",
            "Redelivered terminal readings (same meter, quantity and time) dropped.",
            stats.duplicates,
        ),
        refused,
    ]


def outbox_families(stats: OutboxStats) -> list[Metric]:
    return [
        GaugeMetricFamily(
            "headend_outbox_depth", "Points stored, waiting for the database.", stats.pending_points
        ),
        GaugeMetricFamily(
            "headend_outbox_pending_bytes",
            "Bytes stored, waiting for the database.",
            stats.pending_bytes,
        ),
        GaugeMetricFamily(
            "headend_outbox_fill_ratio", "Share of the outbox disk budget in use.", stats.fill_ratio
        ),
        CounterMetricFamily(
            "headend_outbox_delivered_total",
            "Points delivered to the database.",
            stats.delivered_points,
        ),
        CounterMetricFamily(
            "headend_outbox_dead_letters_total",
            "Points the database refused for good.",
            stats.dead_letter_points,
        ),
        GaugeMetricFamily(
            "headend_outbox_target_up",
            "1 while the database accepts writes.",
            1 if stats.target_up else 0,
        ),
    ]
