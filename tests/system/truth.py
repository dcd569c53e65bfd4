"""The simulator's ground truth, recomputed from the deterministic community model.

``headend simulate`` runs ``Community.from_scenario(scenario, seed)`` advanced along its clock.
Every value the model shows is a function of the scenario, the seed and the simulated minute
(loads are drawn per day from seeded streams; voltages solve the network for that minute's
loads; registers integrate them exactly), so a test can rebuild the same model and ask it what
a meter showed at any instant, without the simulator having to log what it answered.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from simulators.community.model import Community
from simulators.scenario import Scenario, load_scenario

VOLTAGE_STEP = 0.05
"""Half the last digit of a DL/T 645 voltage (``XXX.X``): within it, a value is the model's."""


def matches_one(value: float, shown: list[float], step: float) -> bool:
    """Whether ``value`` is one of the model's values ``shown`` to within ``step``."""
    return any(abs(value - candidate) <= step + 1e-9 for candidate in shown)


class GroundTruth:
    def __init__(self, scenario: str, seed: int) -> None:
        self.scenario: Scenario = load_scenario(scenario)
        self.seed = seed

    def community_at(self, moment: datetime) -> Community:
        community = Community.from_scenario(self.scenario, self.seed)
        community.advance_to(moment)
        return community

    def values_between(
        self, meter: str, quantity: str, start: datetime, end: datetime
    ) -> list[float]:
        """What the meter showed for ``quantity`` in each simulated minute from start to end.

        The model's instantaneous values hold for a whole minute, so one sample at ``start``
        and one at each minute boundary up to ``end`` cover every value shown in between.
        """
        community = self.community_at(start)
        shown = []
        moment = start
        while moment <= end:
            community.advance_to(moment)
            value = getattr(community.meter_values(meter), quantity)
            assert isinstance(value, float), f"{meter} has no {quantity}"
            shown.append(value)
            moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return shown

    def frozen(self, meter: str, day: date) -> float:
        """The energy register frozen at ``day``'s 00:00 (kWh)."""
        local_midnight = datetime.combine(day, datetime.min.time(), self.scenario.utc_offset)
        community = self.community_at(local_midnight + timedelta(seconds=1))
        value = community.daily_frozen(meter, day)
        assert value is not None, f"the model has no freeze of {meter} on {day}"
        return value
