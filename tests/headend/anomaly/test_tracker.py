"""Event lifecycle: minimum duration, hysteresis, clearing with end time and peak, no flapping."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headend.anomaly import (
    AnomalyError,
    AnomalyKind,
    Condition,
    ConditionSpec,
    EventState,
    EventTracker,
    SubjectKind,
    Timing,
)
from storage.records import Severity
from tests.headend.anomaly.fleets import T0

LOW = 198.0
CLEAR = 200.0
SPEC = ConditionSpec(
    AnomalyKind.VOLTAGE_LOW, SubjectKind.METER, Severity.WARNING, "V", False, 5.0, "low voltage"
)
STEP = timedelta(minutes=1)


def low_voltage(values: list[float]) -> Condition:
    """Raise below LOW, hold below CLEAR: the hysteresis band is [LOW, CLEAR)."""
    value = np.asarray(values, dtype=np.float64)
    return Condition(SPEC, value < LOW, value < CLEAR, value)


def drive(tracker: EventTracker, series: list[float]) -> list[list[EventState]]:
    """Feed one subject's values, one per minute; the states emitted at each step."""
    return [
        [e.state for e in tracker.update(T0 + k * STEP, low_voltage([v]))]
        for k, v in enumerate(series)
    ]


def test_raised_only_after_min_duration_with_start_at_first_breach() -> None:
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=180, clear_after_s=0))
    events = []
    for k in range(5):
        events.append(tracker.update(T0 + k * STEP, low_voltage([190.0])))
    assert [len(e) for e in events] == [0, 0, 0, 1, 0]
    raised = events[3][0]
    assert raised.state is EventState.RAISED
    assert raised.start == T0
    assert raised.end is None


def test_breach_shorter_than_min_duration_never_raises() -> None:
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=180, clear_after_s=0))
    states = drive(tracker, [190.0, 190.0, 210.0, 190.0, 190.0, 210.0])
    assert all(not s for s in states)


def test_cleared_after_clear_delay_with_end_and_peak() -> None:
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=0, clear_after_s=120))
    series = [195.0, 191.0, 193.0, 210.0, 210.0, 210.0]
    events = [tracker.update(T0 + k * STEP, low_voltage([v])) for k, v in enumerate(series)]
    flat = [e for step in events for e in step]
    assert [e.state for e in flat] == [EventState.RAISED, EventState.CLEARED]
    cleared = flat[-1]
    assert cleared.peak == min(series)
    assert cleared.start == T0
    assert cleared.end == T0 + 3 * STEP  # when it went back to normal, not when it was confirmed
    assert cleared.event_id == flat[0].event_id
    assert events[5] == [cleared]


def test_value_inside_hysteresis_band_keeps_event_open() -> None:
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=0, clear_after_s=0))
    states = drive(tracker, [197.0, 199.0, 199.5, 199.9, 200.5])
    assert states == [[EventState.RAISED], [], [], [], [EventState.CLEARED]]


def test_worsening_peak_emits_update() -> None:
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=0, clear_after_s=0))
    step = SPEC.update_step
    states = drive(tracker, [197.0, 196.0, 197.0 - step, 196.0 - step, 197.0 - 2 * step])
    assert states == [[EventState.RAISED], [], [EventState.UPDATED], [], [EventState.UPDATED]]


def test_subjects_are_tracked_independently() -> None:
    tracker = EventTracker(SPEC, ["a", "b", "c"], Timing(min_duration_s=0, clear_after_s=0))
    first = tracker.update(T0, low_voltage([190.0, 220.0, 190.0]))
    second = tracker.update(T0 + STEP, low_voltage([220.0, 220.0, 190.0]))
    assert sorted(e.subject_id for e in first) == ["a", "c"]
    assert [(e.subject_id, e.state) for e in second] == [("a", EventState.CLEARED)]
    assert tracker.active_subjects() == ["c"]


def test_time_going_backwards_is_rejected() -> None:
    tracker = EventTracker(SPEC, ["m1"], Timing(0, 0))
    tracker.update(T0 + STEP, low_voltage([220.0]))
    with pytest.raises(AnomalyError, match="backwards"):
        tracker.update(T0, low_voltage([220.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-0.9, max_value=0.9), min_size=5, max_size=80))
def test_noise_inside_hysteresis_band_does_not_flap(noise: list[float]) -> None:
    """Once raised, values jittering around the raise threshold (inside the band) never clear."""
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=0, clear_after_s=0))
    series = [190.0] + [LOW + n for n in noise]
    emitted = [s for step in drive(tracker, series) for s in step]
    assert emitted.count(EventState.RAISED) == 1
    assert EventState.CLEARED not in emitted


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(min_value=0, max_value=5))
def test_lifecycle_is_well_formed(bad: list[bool], min_steps: int) -> None:
    """For any on/off pattern: raised and cleared alternate, and every raise met its duration."""
    tracker = EventTracker(SPEC, ["m1"], Timing(min_duration_s=60 * min_steps, clear_after_s=60))
    states = drive(tracker, [190.0 if b else 220.0 for b in bad])
    transitions = [s for step in states for s in step if s is not EventState.UPDATED]
    for earlier, later in itertools.pairwise(transitions):
        assert earlier != later
    if transitions:
        assert transitions[0] is EventState.RAISED
    for k, step in enumerate(states):
        if EventState.RAISED in step:
            assert all(bad[k - min_steps : k + 1])
