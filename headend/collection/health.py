"""Online/offline state of each meter, so a dead meter stops eating bus time.

After ``offline_after`` consecutive failed reads a meter is declared offline (one event, not one
per failure). While offline its scheduled reads are not sent; instead a probe goes out at a
growing interval until the meter answers, which brings it back online (another event).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from headend.bus.backoff import Backoff


class HealthChange(enum.Enum):
    WENT_OFFLINE = "meter_offline"
    CAME_ONLINE = "meter_online"


@dataclass(slots=True)
class _State:
    consecutive_failures: int = 0
    offline: bool = False
    last_reason: str | None = None
    probes: int = 0
    next_probe: datetime | None = None


@dataclass(slots=True)
class MeterHealth:
    offline_after: int = 3
    probe_backoff: Backoff = field(default_factory=lambda: Backoff(300.0, 6 * 3600.0, jitter=False))
    _states: dict[str, _State] = field(default_factory=dict)

    def _state(self, meter_id: str) -> _State:
        state = self._states.get(meter_id)
        if state is None:
            state = self._states[meter_id] = _State()
        return state

    def is_offline(self, meter_id: str) -> bool:
        state = self._states.get(meter_id)
        return state is not None and state.offline

    def is_healthy(self, meter_id: str) -> bool:
        """No failure since its last good read: a good read has nothing to reset (one lookup
        on every read's path, where ``is_offline`` then ``success`` took two calls)."""
        return meter_id not in self._states

    def last_reason(self, meter_id: str) -> str | None:
        state = self._states.get(meter_id)
        return None if state is None else state.last_reason

    def should_send(self, meter_id: str, now: datetime) -> bool:
        """Online meters always; offline ones only when their next probe is due."""
        state = self._states.get(meter_id)
        if state is None or not state.offline:
            return True
        return state.next_probe is None or now >= state.next_probe

    def success(self, meter_id: str) -> HealthChange | None:
        """Every good read lands here: a meter that never failed has no state to reset (only
        meters that failed get one, dropped at its next good read, so healthy
        fleets cost nothing per meter or read)."""
        state = self._states.pop(meter_id, None)
        if state is None:
            return None
        return HealthChange.CAME_ONLINE if state.offline else None

    def failure(self, meter_id: str, reason: str, now: datetime) -> HealthChange | None:
        state = self._state(meter_id)
        state.consecutive_failures += 1
        state.last_reason = reason
        if state.offline:
            state.probes += 1
            state.next_probe = now + timedelta(seconds=self.probe_backoff.delay(state.probes))
            return None
        if state.consecutive_failures >= self.offline_after:
            state.offline = True
            state.probes = 1
            state.next_probe = now + timedelta(seconds=self.probe_backoff.delay(1))
            return HealthChange.WENT_OFFLINE
        return None

    def offline_meters(self) -> list[str]:
        return sorted(m for m, s in self._states.items() if s.offline)
