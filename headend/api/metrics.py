"""``/metrics`` in the Prometheus text exposition format (0.0.4), written by hand.

A dozen families of counters and gauges do not justify a dependency and a second registry of
state: every value is read straight from the engine's own stats when scraped (through
``headend.api.facade``). Rates (reads/s)
are left to Prometheus: ``rate(headend_reads_total[1m])``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from headend.api.facade import HeadendFacade
from headend.collection.backfill import BackfillStats
from headend.collection.writer import StorageState
from headend.mqtt.bridge import MqttStats
from headend.units import UnitGate
from storage.outbox import OutboxStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass(slots=True)
class Family:
    name: str
    kind: str
    """counter or gauge"""
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, value))

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.samples:
            if labels:
                text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
                yield f"{self.name}{{{text}}} {_number(value)}"
            else:
                yield f"{self.name} {_number(value)}"


def render(families: Iterable[Family]) -> str:
    return "".join(line + "\n" for family in families for line in family.render())


def engine_families(headend: HeadendFacade, outbox: OutboxStats | None) -> list[Family]:
    reads = Family("headend_reads_total", "counter", "Scheduled reads by channel and outcome.")
    ratio = Family(
        "headend_read_success_ratio",
        "gauge",
        "Succeeded / (succeeded + failed) scheduled reads since start; absent before any read.",
    )
    utilisation = Family(
        "headend_bus_utilisation", "gauge", "Fraction of time the bus spent on requests."
    )
    lag = Family(
        "headend_collection_lag_seconds",
        "gauge",
        "How late the most recent scheduled read started after its due time.",
    )
    max_lag = Family(
        "headend_collection_lag_max_seconds",
        "gauge",
        "The latest any scheduled read has started after its due time, since start.",
    )
    scheduled = Family(
        "headend_reads_scheduled_total", "counter", "Reads the scheduler made due, by channel."
    )
    skipped = Family(
        "headend_reads_skipped_offline_total",
        "counter",
        "Scheduled reads not sent because the meter is offline (it is probed instead).",
    )
    depth = Family("headend_queue_depth", "gauge", "Requests waiting for the bus.")
    overruns = Family(
        "headend_bus_overruns_total", "counter", "Slots recorded missing because the bus was busy."
    )
    retries = Family("headend_bus_retries_total", "counter", "Requests sent again after failing.")
    reconnects = Family("headend_bus_reconnects_total", "counter", "Bus links reopened.")
    failures = Family("headend_bus_failures_total", "counter", "Failed bus jobs by reason.")
    for name, stats in headend.collection_stats().items():
        reads.add(stats.succeeded, channel=name, outcome="success")
        reads.add(stats.failed, channel=name, outcome="failure")
        done = stats.succeeded + stats.failed
        if done:
            ratio.add(stats.succeeded / done, channel=name)
        lag.add(stats.lag_seconds, channel=name)
        max_lag.add(stats.max_lag_seconds, channel=name)
        scheduled.add(stats.scheduled, channel=name)
        skipped.add(stats.skipped_offline, channel=name)
        overruns.add(stats.overruns, channel=name)
    for name, worker in headend.buses().items():
        utilisation.add(worker.utilisation(), channel=name)
        depth.add(worker.depth(), channel=name)
        retries.add(worker.stats.retries, channel=name)
        reconnects.add(worker.stats.reconnects, channel=name)
        for reason, count in sorted(worker.stats.failures.items()):
            failures.add(count, channel=name, reason=reason)

    meters = Family("headend_meters", "gauge", "Meters in the registry by status.")
    offline = len(headend.offline_meters())
    meters.add(headend.meter_count() - offline, status="online")
    meters.add(offline, status="offline")
    alarms = Family("headend_alarms_open", "gauge", "Open alarms by severity.")
    for severity, count in sorted(Counter(a.severity for a in headend.open_alarms()).items()):
        alarms.add(count, severity=severity)

    writer = headend.writer_stats
    written = Family(
        "headend_records_written_total", "counter", "Records handed to storage successfully."
    )
    written.add(writer.written)
    pending = Family("headend_writer_pending", "gauge", "Records waiting in the writer buffer.")
    pending.add(writer.pending)
    sink_errors = Family("headend_sink_errors_total", "counter", "Failed writes to the sink.")
    sink_errors.add(writer.errors)
    state = Family(
        "headend_storage_state",
        "gauge",
        "1 for the current state of the local store: ok, full (disk or outbox budget), failing.",
    )
    for name in StorageState:
        state.add(1 if writer.state is name else 0, state=name.value)
    dropped = Family(
        "headend_storage_dropped_total",
        "counter",
        "Records given up by the overflow policy while the store refused writes.",
    )
    dropped.add(writer.dropped, policy=headend.writer_limits.overflow.value)
    limit = Family(
        "headend_writer_buffer_limit", "gauge", "Records the writer holds at most in RAM."
    )
    limit.add(headend.writer_limits.limit)
    dead_letters = Family(
        "headend_storage_dead_letters_total",
        "counter",
        "Records and lines set aside in a dead_letter table (no stored form, or refused).",
    )
    dead_letters.add((headend.sink_dead_letters() or 0) + writer.refused)
    families = [
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
        meters,
        alarms,
        written,
        pending,
        sink_errors,
        state,
        dropped,
        limit,
        dead_letters,
    ]
    families.extend(backfill_families(headend.backfill_stats))
    families.extend(unit_families(headend.units))
    if headend.mqtt_stats is not None:
        families.extend(mqtt_families(headend.mqtt_stats))
    if outbox is not None:
        families.extend(outbox_families(outbox))
    return families


def unit_families(gate: UnitGate) -> list[Family]:
    """Readings made canonical on the way in (headend/units.py), and those refused for it."""
    converted = Family(
        "headend_readings_unit_converted_total",
        "counter",
        "Readings converted to their quantity's canonical unit (e.g. W to kW).",
    )
    converted.add(gate.converted)
    refused = Family(
        "headend_readings_unit_refused_total",
        "counter",
        "Readings dropped because their unit cannot be converted, by quantity and unit.",
    )
    for (quantity, unit), count in sorted(gate.refused.items()):
        refused.add(count, quantity=quantity, unit=unit)
    return [converted, refused]


def backfill_families(stats: BackfillStats) -> list[Family]:
    """Frozen-value backfill (补抄): is it catching up, and what is it giving up on."""
    passes = Family("headend_backfill_passes_total", "counter", "Backfill passes run.")
    passes.add(stats.passes)
    values = Family(
        "headend_backfill_values_total",
        "counter",
        "Frozen values read by backfill, by quality (actual: read on the day it froze).",
    )
    values.add(stats.actual, quality="actual")
    values.add(stats.backfilled, quality="backfilled")
    failures = Family(
        "headend_backfill_failures_total", "counter", "Frozen-value reads that failed."
    )
    failures.add(stats.failures)
    given_up = Family(
        "headend_backfill_given_up_total",
        "counter",
        "Days left uncollected because the meter no longer holds their freeze.",
    )
    given_up.add(stats.given_up)
    return [passes, values, failures, given_up]


def mqtt_families(stats: MqttStats) -> list[Family]:
    """Terminal telemetry in and our messages out."""
    messages = Family("headend_mqtt_messages_total", "counter", "Terminal messages received.")
    messages.add(stats.messages_in)
    readings = Family(
        "headend_mqtt_readings_total", "counter", "Readings taken from terminal messages."
    )
    readings.add(stats.readings_in)
    bad = Family(
        "headend_mqtt_bad_payloads_total", "counter", "Terminal messages refused as a whole."
    )
    bad.add(stats.bad_payloads)
    problems = Family(
        "headend_mqtt_problems_total",
        "counter",
        "Refused terminal messages and dropped items in them, by topic.",
    )
    for topic, count in sorted(stats.bad_by_topic.items()):
        problems.add(count, topic=topic)
    skipped = Family(
        "headend_mqtt_skipped_items_total",
        "counter",
        "Items dropped from otherwise good terminal messages.",
    )
    skipped.add(stats.skipped_items)
    published = Family("headend_mqtt_published_total", "counter", "Messages we published.")
    published.add(stats.published)
    dropped = Family(
        "headend_mqtt_dropped_outgoing_total",
        "counter",
        "Messages dropped from the full outgoing queue while the broker was away (oldest first).",
    )
    dropped.add(stats.dropped_outgoing)
    connections = Family(
        "headend_mqtt_connections_total", "counter", "Connections made to the broker."
    )
    connections.add(stats.connections)
    requests = Family(
        "headend_mqtt_requests_total", "counter", "Read and clock requests answered over MQTT."
    )
    requests.add(stats.requests)
    reasons = Family(
        "headend_mqtt_problems_by_reason_total",
        "counter",
        "Refused terminal messages and dropped items, by topic and reason (too_large, too_deep, "
        "not_json, bad_value, bad_timestamp, ...).",
    )
    for (topic, reason), count in sorted(stats.problems.items()):
        reasons.add(count, topic=topic, reason=reason)
    duplicates = Family(
        "headend_mqtt_duplicates_total",
        "counter",
        "Redelivered terminal readings (same meter, quantity and time) dropped.",
    )
    duplicates.add(stats.duplicates)
    refused = Family(
        "headend_mqtt_refused_requests_total",
        "counter",
        "MQTT requests refused, by reason and configured requester ('?' for anyone else).",
    )
    for (reason, requester), count in sorted(stats.refused_requests.items()):
        refused.add(count, reason=reason, requester=requester)
    return [
        messages,
        readings,
        bad,
        problems,
        skipped,
        published,
        dropped,
        connections,
        requests,
        reasons,
        duplicates,
        refused,
    ]


def outbox_families(stats: OutboxStats) -> list[Family]:
    depth = Family("headend_outbox_depth", "gauge", "Points stored, waiting for the database.")
    depth.add(stats.pending_points)
    size = Family(
        "headend_outbox_pending_bytes", "gauge", "Bytes stored, waiting for the database."
    )
    size.add(stats.pending_bytes)
    fill = Family("headend_outbox_fill_ratio", "gauge", "Share of the outbox disk budget in use.")
    fill.add(stats.fill_ratio)
    delivered = Family(
        "headend_outbox_delivered_total", "counter", "Points delivered to the database."
    )
    delivered.add(stats.delivered_points)
    dead = Family(
        "headend_outbox_dead_letters_total", "counter", "Points the database refused for good."
    )
    dead.add(stats.dead_letter_points)
    up = Family("headend_outbox_target_up", "gauge", "1 while the database accepts writes.")
    up.add(1 if stats.target_up else 0)
    return [depth, size, fill, delivered, dead, up]
