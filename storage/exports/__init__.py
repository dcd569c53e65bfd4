"""Exports for billing systems: the change log of stored billing reads (a ``since`` cursor),
the IEC 61968-9 MeterReadings message and the settlement CSV built from it (docs/exports.md)."""
