"""The overview's curves, on hand-checked numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from headend.api.trend_buckets import (
    TimedValue,
    bucket_starts,
    load_curve,
    load_rate,
    voltage_curve,
)

T0 = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
WIDTH = timedelta(minutes=15)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_buckets_cover_the_window_end_excluded() -> None:
    starts = bucket_starts(T0, at(60), WIDTH)
    assert starts == [at(0), at(15), at(30), at(45)]


def test_load_is_the_meters_sum_scaled_up_when_some_are_silent() -> None:
    power = [
        TimedValue("m1", at(1), 2.0),
        TimedValue("m1", at(5), 4.0),  # m1's mean in bucket 0: 3 kW
        TimedValue("m2", at(10), 5.0),
        TimedValue("m1", at(20), 6.0),  # bucket 1: only m1 of m1, m2 answered
    ]
    curve = load_curve(power, ["m1", "m2"], [], T0, WIDTH, 3)
    assert curve == [(8.0, "meters"), (12.0, "meters"), None]


def test_the_measured_power_wins_over_the_meters() -> None:
    meters = [TimedValue("m1", at(1), 2.0)]
    measured = [TimedValue("TTU-T1", at(2), 70.0), TimedValue("TTU-T1", at(3), 80.0)]
    assert load_curve(meters, ["m1"], measured, T0, WIDTH, 1) == [(75.0, "terminal")]


def test_values_outside_the_window_are_left_out() -> None:
    power = [TimedValue("m1", at(-1), 9.0), TimedValue("m1", at(15), 9.0)]
    assert load_curve(power, ["m1"], [], T0, WIDTH, 1) == [None]


def test_load_rate_is_over_rated_kva_times_the_power_factor() -> None:
    assert load_rate(76.0, 100.0, 0.95) == 0.8


def test_voltage_curve_is_the_minimum_and_the_mean() -> None:
    voltages = [
        TimedValue("m1", at(1), 220.0),
        TimedValue("m2", at(2), 196.0),
        TimedValue("m1", at(3), 224.0),
        TimedValue("m2", at(31), 230.0),
    ]
    assert voltage_curve(voltages, T0, WIDTH, 3) == [(196.0, 640.0 / 3), None, (230.0, 230.0)]
