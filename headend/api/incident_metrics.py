"""``/metrics`` families of the incidents and their webhooks, read when scraped."""

from __future__ import annotations

from collections import Counter

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from headend.api.facade import HeadendFacade


def incident_families(headend: HeadendFacade) -> list[Metric]:
    active = GaugeMetricFamily(
        "headend_incidents_active",
        "Open and acknowledged incidents by state and severity.",
        labels=["state", "severity"],
    )
    counted = Counter((i.state.value, i.severity.value) for i in headend.active_incidents())
    for (state, severity), count in sorted(counted.items()):
        active.add_metric([state, severity], count)
    sent = CounterMetricFamily(
        "headend_notifications_total",
        "Incident notifications per webhook: queued, sent, retried, failed (given up), "
        "dropped (queue full), delayed (rate limit).",
        labels=["webhook", "outcome"],
    )
    for name, stats in sorted(headend.notification_stats().items()):
        for outcome in ("queued", "sent", "retries", "failed", "dropped", "delayed"):
            sent.add_metric([name, outcome], getattr(stats, outcome))
    store_errors = CounterMetricFamily(
        "headend_incident_store_errors_total",
        "Incident writes to incidents.sqlite that failed (kept in memory, written again).",
        headend.incident_store_errors(),
    )
    return [active, sent, store_errors]
