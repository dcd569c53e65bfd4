"""``/metrics`` in the Prometheus text exposition format (0.0.4), written by hand.

A dozen families of counters and gauges do not justify a dependency and a second registry of
state: every value is read straight from the engine's own stats when scraped. Rates (reads/s)
are left to Prometheus: ``rate(headend_reads_total[1m])``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from headend.engine import Engine
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


def engine_families(engine: Engine, outbox: OutboxStats | None) -> list[Family]:
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
    depth = Family("headend_queue_depth", "gauge", "Requests waiting for the bus.")
    overruns = Family(
        "headend_bus_overruns_total", "counter", "Slots recorded missing because the bus was busy."
    )
    retries = Family("headend_bus_retries_total", "counter", "Requests sent again after failing.")
    reconnects = Family("headend_bus_reconnects_total", "counter", "Bus links reopened.")
    failures = Family("headend_bus_failures_total", "counter", "Failed bus jobs by reason.")
    for name, collector in engine.collectors.items():
        stats = collector.stats
        reads.add(stats.succeeded, channel=name, outcome="success")
        reads.add(stats.failed, channel=name, outcome="failure")
        done = stats.succeeded + stats.failed
        if done:
            ratio.add(stats.succeeded / done, channel=name)
        lag.add(stats.lag_seconds, channel=name)
        overruns.add(stats.overruns, channel=name)
    for name, worker in engine.workers.items():
        utilisation.add(worker.utilisation(), channel=name)
        depth.add(worker.depth(), channel=name)
        retries.add(worker.stats.retries, channel=name)
        reconnects.add(worker.stats.reconnects, channel=name)
        for reason, count in sorted(worker.stats.failures.items()):
            failures.add(count, channel=name, reason=reason)

    meters = Family("headend_meters", "gauge", "Meters in the registry by status.")
    offline = len(engine.health.offline_meters())
    meters.add(len(engine.registry) - offline, status="online")
    meters.add(offline, status="offline")
    alarms = Family("headend_alarms_open", "gauge", "Open alarms by severity.")
    for severity, count in sorted(Counter(a.severity for a in engine.alarms.open_alarms()).items()):
        alarms.add(count, severity=severity)

    writer = engine.writer.stats
    written = Family(
        "headend_records_written_total", "counter", "Records handed to storage successfully."
    )
    written.add(writer.written)
    pending = Family("headend_writer_pending", "gauge", "Records waiting in the writer buffer.")
    pending.add(writer.pending)
    sink_errors = Family("headend_sink_errors_total", "counter", "Failed writes to the sink.")
    sink_errors.add(writer.errors)
    families = [
        reads,
        ratio,
        utilisation,
        lag,
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
    ]
    if outbox is not None:
        families.extend(outbox_families(outbox))
    return families


def outbox_families(stats: OutboxStats) -> list[Family]:
    depth = Family("headend_outbox_depth", "gauge", "Points stored, waiting for the database.")
    depth.add(stats.pending_points)
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
    return [depth, fill, delivered, dead, up]
