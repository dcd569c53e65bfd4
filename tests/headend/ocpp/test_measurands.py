"""MeterValues to stored quantities: W -> kW, Wh -> kWh, unmapped things skipped and named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headend.ocpp.measurands import samples


def test_power_and_energy_arrive_in_canonical_units() -> None:
    found, skipped = samples(
        [
            {
                "timestamp": "2026-12-03T11:00:00Z",
                "sampled_value": [
                    {"value": "12345"},  # default measurand: the energy register in Wh
                    {"measurand": "Power.Active.Import", "unit": "W", "value": "7360.0"},
                    {"measurand": "Current.Import", "phase": "L1", "unit": "A", "value": "32"},
                ],
            }
        ]
    )
    assert skipped == []
    at = datetime(2026, 12, 3, 11, tzinfo=UTC)
    assert [(s.quantity, s.unit, s.timestamp) for s in found] == [
        ("energy_active_import_total", "kWh", at),
        ("power_active_total", "kW", at),
        ("current_a", "A", at),
    ]
    assert [s.value for s in found] == pytest.approx([12.345, 7.36, 32.0])


def test_unmapped_unconvertible_and_unreadable_values_are_skipped_by_name() -> None:
    found, skipped = samples(
        [
            {
                "timestamp": "2026-12-03T11:00:00+00:00",
                "sampled_value": [
                    {"measurand": "SoC", "value": "80"},
                    {"measurand": "Power.Active.Import", "unit": "Wh", "value": "1"},
                    {"measurand": "Power.Active.Import", "value": "lots"},
                    {"measurand": "Power.Active.Import", "value": "nan"},
                ],
            },
            {"timestamp": "yesterday", "sampled_value": [{"value": "1"}]},
        ]
    )
    assert found == []
    assert [(s.what, s.why.split(":")[0]) for s in skipped] == [
        ("SoC", "not mapped"),
        ("Power.Active.Import", "unit 'Wh' not convertible"),
        ("Power.Active.Import", "value unreadable"),
        ("Power.Active.Import", "value not finite"),
        ("timestamp", "unreadable"),
    ]
