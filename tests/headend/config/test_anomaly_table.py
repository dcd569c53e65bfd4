"""The fleet file's ``[anomaly]`` table: read by the one schema, errors naming file and key path.

These were the tests of ``headend.anomaly.load_config``, a second reader of the table with its
own error format; the table is now read only by the fleet loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.anomaly import AnomalyConfig, AnomalyKind, Timing
from headend.config.errors import ConfigError
from headend.config.fleet import load_fleet_config

SITE = '[site]\nname = "test site"\n'


def _load(tmp_path: Path, body: str) -> AnomalyConfig | None:
    path = tmp_path / "fleet.toml"
    path.write_text(SITE + body)
    return load_fleet_config(path).anomaly


def test_site_thresholds_from_toml(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        "[anomaly]\n"
        "heavy_load_rate = 0.75\n"
        "silent_reasons = ['timeout', 'not_available']\n"
        "[anomaly.single_phase]\nnominal_v = 230\nlower_pct = 10\nupper_pct = 10\n"
        "[anomaly.timings.voltage_low_sustained]\nmin_duration_s = 1800\nclear_after_s = 600\n",
    )
    assert config is not None
    assert config.heavy_load_rate == 0.75
    assert config.silent_reasons == ("timeout", "not_available")
    assert config.single_phase.low_v == pytest.approx(207.0)
    assert config.timing(AnomalyKind.VOLTAGE_LOW_SUSTAINED) == Timing(1800.0, 600.0)
    assert config.timing(AnomalyKind.OVERLOAD) == AnomalyConfig().timing(AnomalyKind.OVERLOAD)


def test_an_empty_table_means_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path, "[anomaly]\n") == AnomalyConfig()


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        # unknown key
        ("heavy_load_rat = 0.8", "anomaly.heavy_load_rat", "unknown key"),
        (
            "[anomaly.timings.overlaod]\nmin_duration_s = 1\nclear_after_s = 1",
            "anomaly.timings.overlaod",
            "expected one of",
        ),
        # wrong type
        ("heavy_load_rate = 'high'", "anomaly.heavy_load_rate", "expected a number, got 'high'"),
        ("zero_voltage_v = true", "anomaly.zero_voltage_v", "expected a number, got True"),
        ("silent_reasons = 'timeout'", "anomaly.silent_reasons", "expected a list"),
        # out of range
        ("heavy_load_rate = 1.5", "anomaly.heavy_load_rate", "must be <= 1.0, got 1.5"),
        ("outage_fraction = -0.1", "anomaly.outage_fraction", "must be >= 0.0, got -0.1"),
        ("clock_drift_limit_s = -1", "anomaly.clock_drift_limit_s", "must be >= 0.0, got -1"),
        ("assumed_power_factor = 0", "anomaly.assumed_power_factor", "must be > 0.0, got 0"),
        (
            "[anomaly.single_phase]\nnominal_v = 220\nlower_pct = 100\nupper_pct = 7",
            "anomaly.single_phase.lower_pct",
            "must be < 100.0, got 100",
        ),
        (
            "[anomaly.timings.overload]\nmin_duration_s = -1\nclear_after_s = 1",
            "anomaly.timings.overload.min_duration_s",
            "must be >= 0.0, got -1",
        ),
        # missing keys, and two thresholds that contradict each other
        (
            "[anomaly.single_phase]\nnominal_v = 220",
            "anomaly.single_phase",
            "missing keys lower_pct, upper_pct",
        ),
        (
            "group_low_fraction = 0.1\ngroup_low_clear_fraction = 0.2",
            "anomaly.group_low_clear_fraction",
            "must not exceed group_low_fraction",
        ),
    ],
)
def test_bad_values_name_file_key_path_and_problem(
    tmp_path: Path, body: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, "[anomaly]\n" + body + "\n")
    assert caught.value.source == str(tmp_path / "fleet.toml")
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{tmp_path / 'fleet.toml'}: {key}: ")
