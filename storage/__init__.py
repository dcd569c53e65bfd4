"""Storage: one Sink interface over an embedded SQLite store and InfluxDB (v1 and v2 APIs),
a durable outbox in front of the remote sinks, and billing reads. Schema: docs/storage.md.

Import from the modules (``storage.embedded``, ``storage.influx_v2`` ...): the package itself
loads nothing, so a caller that needs only ``storage.errors`` or ``storage.line_protocol``
(the fleet config's tag check, ``headend read``) does not pay for aiohttp and influxdb-client.
"""
