"""Configuration: defaults from the standards, TOML loading, errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.anomaly import AnomalyConfig, AnomalyConfigError, AnomalyKind, Timing, load_config


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


def test_site_thresholds_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        "[anomaly]\n"
        "heavy_load_rate = 0.75\n"
        "silent_reasons = ['timeout', 'not_available']\n"
        "[anomaly.single_phase]\nnominal_v = 230\nlower_pct = 10\nupper_pct = 10\n"
        "[anomaly.timings.voltage_low_sustained]\nmin_duration_s = 1800\nclear_after_s = 600\n"
    )
    config = load_config(path)
    assert config.heavy_load_rate == 0.75
    assert config.silent_reasons == ("timeout", "not_available")
    assert config.single_phase.low_v == pytest.approx(207.0)
    assert config.timing(AnomalyKind.VOLTAGE_LOW_SUSTAINED) == Timing(1800.0, 600.0)
    assert config.timing(AnomalyKind.OVERLOAD) == AnomalyConfig().timing(AnomalyKind.OVERLOAD)


def test_missing_table_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("[other]\nx = 1\n")
    assert load_config(path) == AnomalyConfig()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("heavy_load_rate = 'high'", "heavy_load_rate"),
        ("heavy_load_rat = 0.8", "heavy_load_rat"),
        ("heavy_load_rate = 1.5", "heavy_load_rate"),
        ("[anomaly.single_phase]\nnominal_v = 220", "single_phase"),
        ("[anomaly.timings.overlaod]\nmin_duration_s = 1\nclear_after_s = 1", "overlaod"),
        ("[anomaly.timings.overload]\nmin_duration_s = -1\nclear_after_s = 1", "overload"),
    ],
)
def test_bad_values_name_key_and_file(tmp_path: Path, body: str, named: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[anomaly]\n" + body + "\n")
    with pytest.raises(AnomalyConfigError, match=named) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_clear_thresholds_must_be_laxer() -> None:
    with pytest.raises(AnomalyConfigError, match="group_low_clear_fraction"):
        AnomalyConfig(group_low_fraction=0.1, group_low_clear_fraction=0.2)
