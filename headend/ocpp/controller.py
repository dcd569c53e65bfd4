"""The curb: charging limits that keep one transformer under its limit, shared fairly.

Sans-IO and clock-free: each ``update`` gets the measured load, its age and the sessions, and
returns every session's limit. The load it works from is the measured transformer load minus
the chargers' own draw (the *base* load), so a curb that lowers the chargers' draw does not
show up as headroom at the next update and undo itself: that feedback is what makes naive
curbs oscillate. On top of it, a raise smaller than ``hysteresis`` is not made and raises are
limited to ``ramp_up`` per update, while cuts apply at once: the limit is kept, never traded
for smoothness. Stale or missing measurements give every session the safe limit, never none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from headend.config.ocpp import CurbConfig


@dataclass(frozen=True, slots=True)
class ActiveSession:
    charger: str
    max_current: float
    draw_kw: float
    """What the charger draws now, from its latest MeterValues (0 if none yet)."""


@dataclass(frozen=True, slots=True)
class Limit:
    current: float | None
    """Amperes per phase; None: released (no curb, the charger's own maximum); 0: paused."""
    reason: str


RELEASED = "released"
SHARED = "shared"
PAUSED = "paused"
STALE = "stale"


class Curb:
    """One transformer's curb; keeps the limits it gave last to apply hysteresis and ramps."""

    def __init__(self, config: CurbConfig) -> None:
        self.config = config
        self.limits: dict[str, Limit] = {}
        self.headroom_kw: float | None = None
        """The last update's headroom for charging (None while the measurement is stale)."""

    def update(
        self,
        sessions: Sequence[ActiveSession],
        load_kw: float | None,
        load_age: float | None,
    ) -> dict[str, Limit]:
        """The limits of the sessions now charging; ``load_age`` in seconds (None: no load)."""
        config = self.config
        stale = load_kw is None or load_age is None or load_age > config.stale_after
        if stale:
            self.headroom_kw = None
            targets = {
                s.charger: Limit(min(config.safe_current, s.max_current), STALE) for s in sessions
            }
        else:
            assert load_kw is not None
            own = sum(s.draw_kw for s in sessions) if config.load_includes_chargers else 0.0
            base = max(0.0, load_kw - own)
            self.headroom_kw = config.limit_kw - base
            targets = self._share(sessions, max(0.0, self.headroom_kw) / config.kw_per_amp)
        max_of = {s.charger: s.max_current for s in sessions}
        limits = {
            charger: self._smooth(self.limits.get(charger), target, max_of[charger])
            for charger, target in targets.items()
        }
        self.limits = limits
        return dict(limits)

    def _share(self, sessions: Sequence[ActiveSession], amps: float) -> dict[str, Limit]:
        """Equal shares by water-filling: a session capped below its share gives the rest back
        to the others. If the shares fall under the minimum current, the earliest sessions
        (``sessions``' order) get the minimum and the rest are paused."""
        result: dict[str, Limit] = {}
        left = sorted(sessions, key=lambda s: s.max_current)
        remaining = amps
        while left:
            share = remaining / len(left)
            capped = [s for s in left if s.max_current <= share]
            if not capped:
                break
            for session in capped:
                result[session.charger] = Limit(None, RELEASED)
                remaining -= session.max_current
            left = [s for s in left if s.max_current > share]
        if not left:
            return result
        share = remaining / len(left)
        if share >= self.config.min_current:
            for session in left:
                result[session.charger] = Limit(share, SHARED)
            return result
        order = {s.charger: index for index, s in enumerate(sessions)}
        for session in sorted(left, key=lambda s: order[s.charger]):
            if remaining >= self.config.min_current:
                result[session.charger] = Limit(self.config.min_current, SHARED)
                remaining -= self.config.min_current
            else:
                result[session.charger] = Limit(0.0, PAUSED)
        return result

    def _smooth(self, previous: Limit | None, target: Limit, max_current: float) -> Limit:
        """Cuts at once; raises only by at least ``hysteresis`` and at most ``ramp_up``; a
        release is a raise to the charger's maximum."""
        if previous is None or previous.current is None:
            return target  # new, or released before: anything is a cut or no change
        before = previous.current
        after = max_current if target.current is None else target.current
        if after <= before:
            return target
        if target.current is not None and after - before < self.config.hysteresis:
            return previous
        ceiling = before + self.config.ramp_up
        if after > ceiling:
            return Limit(ceiling, target.reason if target.current is not None else SHARED)
        return target


def curbs_for(configs: Mapping[str, CurbConfig]) -> dict[str, Curb]:
    return {name: Curb(config) for name, config in configs.items()}
