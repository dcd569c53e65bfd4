"""The Flux reference finder must catch what the dashboard checks rely on it to catch."""

from __future__ import annotations

import pytest

from tests.deploy.flux_refs import UnparsedQuery, flux_refs

QUERY = """
from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart)
  |> filter(fn: (r) => r._measurement == "instant" and r["_field"] == "value")
  |> filter(fn: (r) => r.quantity == "voltage_a" or r.quantity == "voltage_b")
  |> filter(fn: (r) => exists r.building)
  |> group(columns: ["transformer", "_field"])
"""


def test_finds_measurements_fields_quantities_and_columns() -> None:
    refs = flux_refs(QUERY)
    assert refs.measurements == {"instant"}
    assert refs.fields == {"value"}
    assert refs.quantities == {"voltage_a", "voltage_b"}
    assert {"building", "transformer", "quantity", "_measurement"} <= refs.columns


def test_tag_argument_counts_as_a_column() -> None:
    refs = flux_refs('schema.tagValues(bucket: "b", tag: "household")')
    assert "household" in refs.columns


@pytest.mark.parametrize(
    "comparison",
    ["r.quantity =~ /voltage_.*/", 'r.quantity != "voltage_a"', "r._measurement == other"],
)
def test_other_comparisons_are_refused(comparison: str) -> None:
    with pytest.raises(UnparsedQuery, match=r"r\._?\w+ is used"):
        flux_refs(f"filter(fn: (r) => {comparison})")
