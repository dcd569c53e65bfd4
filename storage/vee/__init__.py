"""VEE (validation, estimation, editing) of daily register reads, sans-IO.

Billing must never receive an estimate silently: every register read and every consumption
these modules produce states its quality (actual, edited, estimated with the rule, missing).
The inputs are the rows ``storage.billing`` already assembles (``DailyValue``), the archive's
meter exchanges and the operators' edits; nothing here does I/O.
"""
