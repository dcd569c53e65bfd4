"""Archive uploads and exchanges the API refused, by reason, for ``/metrics``.

Why counted: an archive upload comes from a billing office's script or spreadsheet; a
script that keeps sending the wrong type or a broken file shows as a rising counter, not
only as 4xx lines in an access log nobody reads. Oversize bodies are counted where they are
refused, with every other 413 (``headend_api_refused_total{reason="body_too_large"}``).
"""

from __future__ import annotations

import enum
from collections import Counter

from prometheus_client.metrics_core import CounterMetricFamily, Metric


class ArchiveRefusal(enum.StrEnum):
    CONTENT_TYPE = "content_type"
    """415: neither CSV nor XLSX."""
    MALFORMED = "malformed"
    """422: a bad row or cell, or a file that is not what its type says."""
    UNKNOWN_METER = "unknown_meter"
    """404: an exchange of a meter the archive does not list."""
    REFUSED = "refused"
    """422: the archive refused the change (a meter exchanged twice, ids given twice)."""
    NO_ARCHIVE = "no_archive"
    """503: the head-end runs without a data dir."""


class ArchiveRefusals:
    def __init__(self) -> None:
        self.counts: Counter[ArchiveRefusal] = Counter()

    def count(self, reason: ArchiveRefusal) -> None:
        self.counts[reason] += 1

    def families(self) -> list[Metric]:
        refused = CounterMetricFamily(
            "headend_archive_refused_total",
            "Archive uploads and exchanges refused by the admin API, by reason.",
            labels=["reason"],
        )
        for reason in ArchiveRefusal:
            refused.add_metric([reason.value], self.counts[reason])
        return [refused]
