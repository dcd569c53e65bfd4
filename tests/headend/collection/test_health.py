"""A meter goes offline after N failures, is probed less often, and comes back on success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from headend.collection.health import HealthChange, MeterHealth

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def test_offline_after_consecutive_failures_then_probe_then_online() -> None:
    health = MeterHealth(offline_after=3)
    assert health.failure("m1", "timeout", T0) is None
    assert health.failure("m1", "timeout", T0) is None
    assert health.failure("m1", "timeout", T0) is HealthChange.WENT_OFFLINE
    assert health.is_offline("m1")
    assert not health.should_send("m1", T0 + timedelta(seconds=1))
    assert health.should_send("m1", T0 + timedelta(seconds=300))
    assert health.failure("m1", "timeout", T0 + timedelta(seconds=300)) is None
    # the probe interval grows
    assert not health.should_send("m1", T0 + timedelta(seconds=300 + 301))
    assert health.should_send("m1", T0 + timedelta(seconds=300 + 600))
    assert health.success("m1") is HealthChange.CAME_ONLINE
    assert health.should_send("m1", T0)
    assert health.offline_meters() == []


def test_success_resets_the_count() -> None:
    health = MeterHealth(offline_after=2)
    health.failure("m1", "checksum", T0)
    assert health.success("m1") is None
    assert health.failure("m1", "checksum", T0) is None
    assert health.last_reason("m1") == "checksum"


def test_a_meter_that_never_failed_holds_no_state_and_a_failed_one_is_reset_by_success() -> None:
    health = MeterHealth(offline_after=3)
    assert health.success("m1") is None
    assert not health.is_offline("m1")
    assert health.last_reason("m1") is None
    assert health._states == {}  # healthy meters cost nothing per meter
    health.failure("m2", "timeout", T0)
    assert health.last_reason("m2") == "timeout"
    assert health.success("m2") is None
    assert health.last_reason("m2") is None
    for _ in range(3):
        health.failure("m2", "timeout", T0)
    assert health.is_offline("m2")
