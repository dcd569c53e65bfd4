"""Configuration: defaults from the standards, and the checks that relate two thresholds.

Reading an ``[anomaly]`` table from a file is the fleet loader's job: its tests are in
tests/headend/config/test_anomaly_table.py."""

from __future__ import annotations

import pytest

from headend.anomaly import AnomalyConfig, AnomalyConfigError, AnomalyKind, Timing


def test_practice_defaults() -> None:
    config = AnomalyConfig()
    assert config.heavy_load_rate == 0.8
    assert config.overload_rate == 1.0
    assert config.current_unbalance_limit == 0.15
    assert config.voltage_unbalance_limit == 0.02
    assert config.timing(AnomalyKind.VOLTAGE_LOW_SUSTAINED).min_duration_s == 3600.0


def test_every_kind_has_a_timing() -> None:
    config = AnomalyConfig(timings={AnomalyKind.OVERLOAD: Timing(60.0, 60.0)})
    assert set(config.timings) == set(AnomalyKind)
    assert config.timing(AnomalyKind.OVERLOAD) == Timing(60.0, 60.0)


def test_clear_thresholds_must_be_laxer() -> None:
    with pytest.raises(AnomalyConfigError, match="group_low_clear_fraction"):
        AnomalyConfig(group_low_fraction=0.1, group_low_clear_fraction=0.2)
