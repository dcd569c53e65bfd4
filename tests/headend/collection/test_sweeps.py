"""The anomaly sweeps' fleet layout, the sweep's time rule, and what a fleet change does."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from headend.anomaly.alarms import AlarmBook
from headend.collection.registry import MeterRegistry
from headend.collection.sweeps import NO_BUILDING, AnomalySweeps, fleet_layout
from headend.config.fleet import FleetConfig, parse_fleet_config
from storage.records import EventRecord

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def meter(meter_id: str, address: str, **where: str) -> dict[str, str]:
    return {"id": meter_id, "channel": "bus-1", "address": address, "plan": "flat", **where}


FLEET = {
    "site": {"name": "test", "timezone": "UTC"},
    "channels": [{"name": "bus-1", "url": "tcp://127.0.0.1:9"}],
    "transformers": [
        {"name": "T1", "rated_kva": 400, "terminal": "TTU-1"},
        {"name": "T2", "rated_kva": 250},
    ],
    "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
    "meters": [
        meter("m1", "000000000001", transformer="T1", building="B1", phase="ABC"),
        meter("m2", "000000000002", transformer="T2"),
        meter("lv", "000000000003", transformer="T2", kind="transformer_lv"),
        meter("loose", "000000000004"),
    ],
}


class SetClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at

    async def sleep_until(self, when: datetime) -> None:
        raise AssertionError("a sweep test does not sleep")

    def real_seconds(self, span: float) -> float:
        return span


@pytest.fixture
def config() -> FleetConfig:
    return parse_fleet_config(FLEET, "test")


def test_the_layout_holds_the_load_meters_under_a_transformer(
    config: FleetConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "headend.collection.sweeps"):
        layout = fleet_layout(MeterRegistry(config), config)
    assert layout.meter_ids == ("m1", "m2")
    assert layout.transformer_ids == ("TTU-1", "T2"), "a transformer is known by its terminal"
    assert layout.building_ids == (NO_BUILDING, "B1")
    assert list(layout.three_phase) == [True, False]
    assert layout.transformer_source_index["lv"] == layout.transformer_index["T2"]
    assert "skips 1 meters without a transformer" in caplog.text


def sweeps(config: FleetConfig) -> tuple[AnomalySweeps, SetClock, list[EventRecord]]:
    clock = SetClock(START)
    recorded: list[EventRecord] = []
    built = AnomalySweeps(
        MeterRegistry(config),
        config,
        alarms=AlarmBook(),
        clock=clock,
        record_events=recorded.extend,
        rules=None,
        interval=60.0,
    )
    return built, clock, recorded


def test_a_sweep_waits_for_time_to_pass_the_last_one(config: FleetConfig) -> None:
    built, clock, _ = sweeps(config)
    built.sweep()
    first = built.last_sweep
    assert first is not None
    clock.at = first - timedelta(minutes=5)  # NTP stepped the clock back
    assert built.sweep() == []
    assert built.last_sweep == first
    clock.at = first + timedelta(minutes=1)
    built.sweep()
    assert built.last_sweep == first + timedelta(minutes=1)


def test_a_fleet_change_rebuilds_the_detector_and_sweeps_afresh(config: FleetConfig) -> None:
    built, _, _ = sweeps(config)
    built.sweep()
    before = built.detector
    built.fleet_changed("m2")
    assert built.detector is not before
    assert built.last_sweep is None
