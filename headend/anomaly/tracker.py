"""Turns per-sweep condition masks into event lifecycles: the only stateful part.

State lives in arrays (one slot per subject: pending-since, normal-since, start, peak), and a
sweep touches only subjects that are abnormal now or were before, so a quiet fleet of a million
meters costs one mask scan. A condition must hold ``min_duration_s`` before it is raised and
stay normal ``clear_after_s`` before it clears; with the raise/clear thresholds of the rule that
is what stops noise around a limit from flapping events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from headend.anomaly.conditions import Condition, ConditionSpec
from headend.anomaly.config import Timing
from headend.anomaly.errors import AnomalyError
from headend.anomaly.events import AnomalyEvent, EventState
from headend.anomaly.grouping import BoolArray, FloatArray, IntArray

log = logging.getLogger(__name__)


class EventTracker:
    """Lifecycle of one kind of condition over one set of subjects."""

    def __init__(self, spec: ConditionSpec, subject_ids: Sequence[str], timing: Timing) -> None:
        n = len(subject_ids)
        self.spec = spec
        self.timing = timing
        self._subject_ids = subject_ids
        self._active: BoolArray = np.zeros(n, dtype=np.bool_)
        self._watched: BoolArray = np.zeros(n, dtype=np.bool_)
        self._pending_since: FloatArray = np.full(n, np.nan)
        self._normal_since: FloatArray = np.full(n, np.nan)
        self._start: FloatArray = np.full(n, np.nan)
        self._peak: FloatArray = np.full(n, np.nan)
        self._reported_peak: FloatArray = np.full(n, np.nan)
        self._last_time = -np.inf

    @property
    def active_count(self) -> int:
        return int(np.count_nonzero(self._active))

    def active_subjects(self) -> list[str]:
        return [self._subject_ids[int(i)] for i in np.flatnonzero(self._active)]

    def update(self, now: datetime, condition: Condition) -> list[AnomalyEvent]:
        """Advance every subject to ``now`` and return the transitions, raised first."""
        if condition.spec != self.spec:
            raise AnomalyError(
                f"tracker for {self.spec.kind}/{self.spec.subject} fed {condition.spec.kind}"
            )
        t = now.timestamp()
        if t < self._last_time:
            raise AnomalyError(
                f"tracker {self.spec.kind}: time went backwards to {now.isoformat()}"
            )
        self._last_time = t
        idx: IntArray = np.flatnonzero(condition.held | condition.raised | self._watched)
        if idx.size == 0:
            return []
        raised = condition.raised[idx]
        held = condition.held[idx] | raised
        value = condition.value[idx]
        active = self._active[idx]
        idle = ~active
        worse = np.fmax if self.spec.higher_is_worse else np.fmin

        pending = self._pending_since[idx]
        pending = np.where(idle & np.isnan(pending) & raised, t, pending)
        pending = np.where(idle & ~held, np.nan, pending)
        is_pending = idle & ~np.isnan(pending)
        peak = np.where(
            is_pending | (active & held), worse(self._peak[idx], value), self._peak[idx]
        )
        to_raise = is_pending & (t - pending >= self.timing.min_duration_s)

        normal = self._normal_since[idx]
        normal = np.where(held, np.nan, normal)
        normal = np.where(active & ~held & np.isnan(normal), t, normal)
        to_clear = active & ~held & (t - normal >= self.timing.clear_after_s)

        reported = self._reported_peak[idx]
        gain = peak - reported if self.spec.higher_is_worse else reported - peak
        to_update = active & held & (gain >= self.spec.update_step)

        start = self._start[idx]
        start = np.where(to_raise, pending, start)
        events = self._events(idx, to_raise, EventState.RAISED, t, start, value, peak, normal)
        events += self._events(idx, to_update, EventState.UPDATED, t, start, value, peak, normal)
        events += self._events(idx, to_clear, EventState.CLEARED, t, start, value, peak, normal)

        now_active = (active & ~to_clear) | to_raise
        quiet = ~now_active & ~is_pending
        self._active[idx] = now_active
        self._watched[idx] = now_active | is_pending
        self._pending_since[idx] = np.where(now_active, np.nan, pending)
        self._normal_since[idx] = np.where(now_active, normal, np.nan)
        self._start[idx] = np.where(now_active, start, np.nan)
        self._peak[idx] = np.where(quiet, np.nan, peak)
        self._reported_peak[idx] = np.where(
            to_raise | to_update, peak, np.where(now_active, reported, np.nan)
        )
        return events

    def _events(
        self,
        idx: IntArray,
        which: BoolArray,
        state: EventState,
        now: float,
        start: FloatArray,
        value: FloatArray,
        peak: FloatArray,
        normal_since: FloatArray,
    ) -> list[AnomalyEvent]:
        spec = self.spec
        events: list[AnomalyEvent] = []
        for j in np.flatnonzero(which):
            subject = self._subject_ids[int(idx[j])]
            began = _utc(float(start[j]))
            end = _utc(float(normal_since[j])) if state is EventState.CLEARED else None
            verb = {"raised": "", "updated": "worse: ", "cleared": "cleared: "}[state.value]
            message = (
                f"{verb}{spec.description} at {spec.subject.value} {subject}: "
                f"{spec.format_value(float(value[j]))} (worst {spec.format_value(float(peak[j]))})"
            )
            events.append(
                AnomalyEvent(
                    event_id=f"{spec.kind.value}/{spec.subject.value}/{subject}/{int(start[j])}",
                    subject_kind=spec.subject,
                    subject_id=subject,
                    kind=spec.kind,
                    severity=spec.severity,
                    state=state,
                    start=began,
                    end=end,
                    value=float(value[j]),
                    peak=float(peak[j]),
                    unit=spec.unit,
                    message=message,
                )
            )
        if events:
            log.debug("%s/%s: %d %s", spec.kind, spec.subject, len(events), state.value)
        return events


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
