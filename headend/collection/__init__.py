"""Automatic collection: the live meter set, schedules, backfill, completeness and the writer."""
