"""Storage: one Sink interface over an embedded SQLite store and InfluxDB (v1 and v2 APIs),
a durable outbox in front of the remote sinks, and billing reads. Schema: docs/storage.md.
"""

from __future__ import annotations

from storage.billing import (
    BillingReport,
    BillingSource,
    DailyValue,
    DayState,
    StoredPoint,
    billing_report,
)
from storage.billing_csv import MeterLabels, write_csv
from storage.embedded import SqliteStore
from storage.errors import (
    AuthError,
    BadLineError,
    LocalStoreFailed,
    OutboxFull,
    QueryError,
    RecordError,
    SinkUnavailable,
    StorageError,
    StorageFull,
    WriteRejected,
)
from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.influxql import InfluxQLBillingSource
from storage.line_protocol import LineEncoder, validate_tag_value
from storage.outbox import Outbox, OutboxStats, open_outbox
from storage.records import CollectionOutcome, CollectionStatus, EventRecord, Severity
from storage.retry import RetryPolicy
from storage.schema import Record
from storage.sink import LineSink, Sink

__all__ = [
    "AuthError",
    "BadLineError",
    "BillingReport",
    "BillingSource",
    "CollectionOutcome",
    "CollectionStatus",
    "DailyValue",
    "DayState",
    "EventRecord",
    "InfluxQLBillingSource",
    "InfluxV1Sink",
    "InfluxV2Sink",
    "LineEncoder",
    "LineSink",
    "LocalStoreFailed",
    "MeterLabels",
    "Outbox",
    "OutboxFull",
    "OutboxStats",
    "QueryError",
    "Record",
    "RecordError",
    "RetryPolicy",
    "Severity",
    "Sink",
    "SinkUnavailable",
    "SqliteStore",
    "StorageError",
    "StorageFull",
    "StoredPoint",
    "WriteRejected",
    "billing_report",
    "open_outbox",
    "validate_tag_value",
    "write_csv",
]
