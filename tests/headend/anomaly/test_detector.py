"""The driver end to end: readings in, lifecycle events out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from headend.anomaly import (
    AnomalyConfig,
    AnomalyDetector,
    AnomalyError,
    AnomalyEvent,
    AnomalyKind,
    EventState,
    FleetLayout,
    FleetLayoutError,
    ReadingRejectedError,
    SubjectKind,
    Timing,
)
from headend.anomaly.fleet import FAILURE_CODE
from storage.records import FailureReason, Quality, Reading, ReadingKind
from tests.headend.anomaly.fleets import T0, layout

IMMEDIATE = {kind: Timing(0.0, 0.0) for kind in AnomalyKind}
FIFTEEN_MIN = timedelta(minutes=15)


def immediate_detector(meters: int = 4) -> AnomalyDetector:
    return AnomalyDetector(layout([meters]), AnomalyConfig(timings=IMMEDIATE))


def energy(
    meter: str, kwh: float, at: datetime, quantity: str = "energy_active_import_total"
) -> Reading:
    return Reading(meter, quantity, kwh, "kWh", at, kind=ReadingKind.ENERGY)


def raised(events: list[AnomalyEvent]) -> set[tuple[AnomalyKind, str]]:
    return {(e.kind, e.subject_id) for e in events if e.state is EventState.RAISED}


def test_low_voltage_from_readings_in_any_unit() -> None:
    detector = immediate_detector()
    low = detector.config.single_phase.low_v
    detector.ingest(Reading("m0", "voltage_a", (low - 1.0) / 1000.0, "kV", T0))
    detector.ingest(Reading("m1", "voltage_a", low + 1.0, "V", T0))
    meter_events = [e for e in detector.sweep(T0) if e.subject_kind is SubjectKind.METER]
    assert raised(meter_events) == {
        (AnomalyKind.VOLTAGE_LOW, "m0"),
        (AnomalyKind.VOLTAGE_LOW_SUSTAINED, "m0"),
    }


def test_failed_read_blanks_the_value_instead_of_keeping_it() -> None:
    detector = immediate_detector()
    detector.ingest(Reading("m0", "voltage_a", 150.0, "V", T0))
    detector.ingest(Reading.missing("m0", "voltage_a", "V", T0, FailureReason.CHECKSUM))
    assert (AnomalyKind.VOLTAGE_LOW, "m0") not in raised(detector.sweep(T0))


def test_a_voltage_in_volts_lands_as_one_in_kilovolts_does() -> None:
    """The polled voltage in V takes a short path into the snapshot: it must leave the same
    row as the general path does for the same value in kV (value, failure code cleared),
    and a frozen voltage must not overwrite the live one."""
    detector = immediate_detector()
    for meter in ("m0", "m1"):
        detector.ingest(Reading.missing(meter, "voltage_b", "V", T0, FailureReason.CHECKSUM))
    assert detector.ingest(Reading("m0", "voltage_b", 231.5, "V", T0))
    assert detector.ingest(Reading("m1", "voltage_b", 0.2315, "kV", T0))
    snap = detector.snapshot
    assert snap.voltage[1, 0] == pytest.approx(snap.voltage[1, 1]) == pytest.approx(231.5)
    assert snap.failure_code[0] == snap.failure_code[1] == 0
    frozen = Reading("m0", "voltage_b", 100.0, "V", T0, kind=ReadingKind.FROZEN)
    assert not detector.ingest(frozen)
    assert snap.voltage[1, 0] == pytest.approx(231.5)


def test_unconvertible_unit_is_rejected_with_its_name() -> None:
    detector = immediate_detector()
    with pytest.raises(ReadingRejectedError, match=r"m0/voltage_a.*'mV'"):
        detector.ingest(Reading("m0", "voltage_a", 220.0, "mV", T0))


def test_unknown_device_is_logged_once_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    detector = immediate_detector()
    with caplog.at_level(logging.WARNING, logger="headend.anomaly.detector"):
        used = detector.ingest_many([Reading("ghost", "voltage_a", 220.0, "V", T0)] * 3)
    assert used == 0
    assert len([r for r in caplog.records if "ghost" in r.getMessage()]) == 1


def test_register_going_backwards_raises_then_clears_on_next_good_read() -> None:
    detector = immediate_detector()
    detector.ingest(energy("m0", 100.0, T0))
    detector.ingest(energy("m0", 99.0, T0 + FIFTEEN_MIN))
    first = detector.sweep(T0 + FIFTEEN_MIN)
    assert raised(first) == {(AnomalyKind.ENERGY_BACKWARDS, "m0")}
    detector.ingest(energy("m0", 99.5, T0 + 2 * FIFTEEN_MIN))
    (cleared,) = detector.sweep(T0 + 2 * FIFTEEN_MIN)
    assert cleared.state is EventState.CLEARED
    assert cleared.peak == pytest.approx(-1.0)


def test_jump_beyond_physical_maximum() -> None:
    detector = immediate_detector()
    possible = detector.config.single_phase_max_kw * 0.25
    detector.ingest(energy("m0", 100.0, T0))
    detector.ingest(energy("m0", 100.0 + possible * 0.9, T0 + FIFTEEN_MIN))
    detector.ingest(energy("m1", 100.0, T0))
    detector.ingest(energy("m1", 100.0 + possible * 1.1, T0 + FIFTEEN_MIN))
    assert raised(detector.sweep(T0 + FIFTEEN_MIN)) == {(AnomalyKind.ENERGY_JUMP, "m1")}


def test_older_register_reads_do_not_make_a_step() -> None:
    detector = immediate_detector()
    detector.ingest(energy("m0", 100.0, T0 + FIFTEEN_MIN))
    detector.ingest(
        Reading(
            "m0",
            "energy_active_import_total",
            90.0,
            "kWh",
            T0,
            ReadingKind.ENERGY,
            Quality.BACKFILLED,
        )
    )
    assert detector.sweep(T0 + FIFTEEN_MIN) == []


def test_reverse_energy_only_where_not_expected() -> None:
    detector = AnomalyDetector(
        layout([2], expects_export=[False, True]), AnomalyConfig(timings=IMMEDIATE)
    )
    for meter in ("m0", "m1"):
        detector.ingest(energy(meter, 0.0, T0, "energy_active_export_total"))
        detector.ingest(energy(meter, 3.0, T0 + FIFTEEN_MIN, "energy_active_export_total"))
    assert raised(detector.sweep(T0 + FIFTEEN_MIN)) == {(AnomalyKind.REVERSE_ENERGY, "m0")}


def test_meter_clock_drift() -> None:
    detector = immediate_detector()
    limit = detector.config.clock_drift_limit_s
    detector.ingest(Reading("m0", "clock", T0.timestamp() + limit + 1, "s", T0, ReadingKind.STATE))
    detector.ingest(Reading("m1", "clock", T0.timestamp() + limit - 1, "s", T0, ReadingKind.STATE))
    detector.ingest(Reading("m2", "clock_drift", -(limit + 1), "s", T0, ReadingKind.STATE))
    assert raised(detector.sweep(T0)) == {
        (AnomalyKind.CLOCK_DRIFT, "m0"),
        (AnomalyKind.CLOCK_DRIFT, "m2"),
    }


def test_terminal_power_raises_overload_after_its_duration() -> None:
    detector = AnomalyDetector(layout([3], rated_kva=[400.0]))
    overload = detector.config.timing(AnomalyKind.OVERLOAD).min_duration_s
    kw = 400.0 * detector.config.assumed_power_factor * 1.1
    seen: list[AnomalyEvent] = []
    for minutes in range(0, int(overload // 60) + 30, 15):
        now = T0 + timedelta(minutes=minutes)
        detector.ingest(Reading("t0", "power_active_total", kw * 1000.0, "W", now))
        seen += detector.sweep(now)
    overloads = [e for e in seen if e.kind is AnomalyKind.OVERLOAD]
    assert [e.state for e in overloads] == [EventState.RAISED]
    assert overloads[0].subject_kind is SubjectKind.TRANSFORMER
    assert overloads[0].start == T0
    assert overloads[0].peak == pytest.approx(1.1)


def test_terminal_phase_currents_raise_unbalance() -> None:
    detector = AnomalyDetector(layout([3], rated_kva=[400.0]), AnomalyConfig(timings=IMMEDIATE))
    for phase, amps in zip("abc", (500.0, 300.0, 450.0), strict=True):
        detector.ingest(Reading("t0", f"current_{phase}", amps, "A", T0))
    (event,) = detector.sweep(T0)
    assert event.kind is AnomalyKind.CURRENT_UNBALANCE
    assert event.value == pytest.approx(0.4)


def test_light_load_unbalance_is_not_judged() -> None:
    detector = AnomalyDetector(layout([3], rated_kva=[400.0]), AnomalyConfig(timings=IMMEDIATE))
    for phase, amps in zip("abc", (20.0, 2.0, 10.0), strict=True):
        detector.ingest(Reading("t0", f"current_{phase}", amps, "A", T0))
    assert detector.sweep(T0) == []


def test_open_incidents_lists_active_subjects() -> None:
    detector = immediate_detector()
    detector.ingest(Reading("m2", "voltage_a", 250.0, "V", T0))
    detector.sweep(T0)
    assert detector.open_incidents() == {(AnomalyKind.VOLTAGE_HIGH, SubjectKind.METER): ["m2"]}


def test_naive_sweep_time_is_rejected() -> None:
    with pytest.raises(AnomalyError, match="timezone"):
        immediate_detector().sweep(datetime(2026, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"meter_ids": ["a", "a"], "meter_transformer": [0, 0]}, "'a'"),
        ({"meter_ids": ["a"], "meter_transformer": [0, 0]}, "meter_transformer"),
        ({"meter_ids": ["t0"], "meter_transformer": [0]}, "t0"),
        ({"meter_ids": ["a"], "meter_transformer": [0], "rated_kva": [0.0]}, "rated_kva"),
    ],
)
def test_inconsistent_layout_is_named(kwargs: dict[str, object], named: str) -> None:
    arguments: dict[str, object] = {"transformer_ids": ["t0"], "rated_kva": [400.0]} | kwargs
    with pytest.raises(FleetLayoutError, match=named):
        FleetLayout(**arguments)  # type: ignore[arg-type]


def test_reads_never_sent_do_not_count_against_the_meter() -> None:
    one_meter = FleetLayout(
        meter_ids=["m1"], transformer_ids=["T1"], rated_kva=[400], meter_transformer=[0]
    )
    detector = AnomalyDetector(one_meter)
    at = T0
    for reason in ("bus_overrun", "meter_offline", "shutdown"):
        used = detector.ingest(Reading.missing("m1", "voltage_a", "V", at, reason))
        assert not used
        assert detector.snapshot.failure_code[0] == 0
    assert detector.ingest(Reading.missing("m1", "voltage_a", "V", at, FailureReason.TIMEOUT))
    assert detector.snapshot.failure_code[0] == FAILURE_CODE["timeout"]


def test_a_reading_with_an_odd_unit_is_counted_and_the_rest_go_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    one_meter = FleetLayout(
        meter_ids=["m1"], transformer_ids=["T1"], rated_kva=[400], meter_transformer=[0]
    )
    detector = AnomalyDetector(one_meter)
    odd = Reading("m1", "voltage_a", 0.231, "kV?", T0)
    good = Reading("m1", "voltage_b", 229.0, "V", T0)
    with caplog.at_level(logging.WARNING):
        assert detector.ingest_many([odd, odd, good]) == 1
    assert detector.rejected == 2
    assert sum("kV?" in record.message for record in caplog.records) == 1
    assert detector.snapshot.voltage[1, 0] == 229.0


def test_transformers_lv_meter_measures_it_and_is_not_one_of_its_loads() -> None:
    """A DTSU666 on the LV side reads the whole transformer: summing it with the households
    would count the load twice."""
    fleet = FleetLayout(
        meter_ids=["m0", "m1"],
        transformer_ids=["t0"],
        rated_kva=[100.0],
        meter_transformer=[0, 0],
        transformer_devices={"t0-lv": "t0"},
    )
    detector = AnomalyDetector(fleet, AnomalyConfig(timings=IMMEDIATE))
    detector.ingest(Reading("m0", "power_active_total", 40.0, "kW", T0))
    detector.ingest(Reading("m1", "power_active_total", 45.0, "kW", T0))
    assert detector.ingest(Reading("t0-lv", "power_active_total", 90_000.0, "W", T0))
    loading = detector.transformer_loading()
    assert loading.power_kw.tolist() == [90.0]
    assert loading.from_terminal.tolist() == [True]
    assert loading.meters_kw.tolist() == [85.0]
    [heavy] = [e for e in detector.sweep(T0) if e.kind is AnomalyKind.HEAVY_LOAD]
    assert heavy.value == pytest.approx(90.0 / detector.config.assumed_power_factor / 100.0)


def test_transformer_device_must_name_a_known_transformer() -> None:
    with pytest.raises(FleetLayoutError, match="'t0-lv': unknown transformer 'tx'"):
        FleetLayout(
            meter_ids=["m0"],
            transformer_ids=["t0"],
            rated_kva=[100.0],
            meter_transformer=[0],
            transformer_devices={"t0-lv": "tx"},
        )
