"""The daily hand-off's Prometheus families, built from its stats when scraped (as
``headend.api.metrics`` does for the engine): hand-offs made, rows, failed passes, webhook
posts, failures (each one retried) and deliveries still pending."""

from __future__ import annotations

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from headend.api.facade import HeadendFacade


def handoff_families(headend: HeadendFacade) -> list[Metric]:
    handoff = headend.handoff
    if handoff is None:
        return []
    stats = handoff.stats
    made = CounterMetricFamily("headend_handoffs", "Daily hand-offs made, by kind", labels=["kind"])
    made.add_metric(["daily"], stats.daily)
    made.add_metric(["correction"], stats.corrections)
    families: list[Metric] = [
        made,
        CounterMetricFamily("headend_handoff_rows", "Settlement rows handed off", value=stats.rows),
        CounterMetricFamily(
            "headend_handoff_pass_failures", "Hand-off passes that failed", value=stats.failures
        ),
    ]
    if handoff.webhook is not None:
        posts = handoff.webhook.stats
        families += [
            CounterMetricFamily(
                "headend_handoff_webhook_posts", "Files the webhook acknowledged", value=posts.posts
            ),
            CounterMetricFamily(
                "headend_handoff_webhook_failures",
                "Webhook attempts that failed (each retried)",
                value=posts.failures,
            ),
            GaugeMetricFamily(
                "headend_handoff_webhook_pending",
                "Hand-offs not yet acknowledged by the webhook",
                value=posts.pending,
            ),
        ]
    return families
