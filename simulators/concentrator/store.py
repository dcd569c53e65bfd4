"""What a concentrator has stored of its meters: the archive and the daily frozen values.

A real concentrator reads its meters' day freeze (forward active energy, total and per
tariff) over HPLC or RS-485 after midnight and keeps it for a number of days; the master asks
for it later by date (AFN 0D F161). The community model freezes the total only, so the tariff
registers here are a fixed split of it (``tariff_split``), rounded to the A.14 resolution the
frame carries, with the total their sum as on a meter's display. These stored values are the
simulator's ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

TARIFF_SHARES = (0.15, 0.35, 0.30, 0.20)
"""Sharp, peak, flat and valley shares of a day's energy register (尖峰平谷)."""
A14_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class StoreMeter:
    point: int
    """pn, the measurement point number in the concentrator's archive (1..2040)."""
    meter_id: str
    address: str
    """The meter's 12-digit DL/T 645 address (A.12 in the archive record)."""


def tariff_split(total: float) -> tuple[float, ...]:
    """Total and tariffs 1..4 at A.14 resolution; the total is the tariffs' sum."""
    parts = [round(total * share, A14_DECIMALS) for share in TARIFF_SHARES[:-1]]
    parts.append(round(round(total, A14_DECIMALS) - sum(parts), A14_DECIMALS))
    return (round(sum(parts), A14_DECIMALS), *parts)


class FrozenStore:
    """Daily frozen values by (pn, day), read from a source of frozen totals.

    ``keeps_days`` is how far back the concentrator holds records (older days are gone);
    ``missing`` days and ``unreachable`` points have no record (a meter the carrier could not
    read, a day the concentrator was down).
    """

    def __init__(
        self,
        meters: Sequence[StoreMeter],
        frozen_total: Callable[[str, date], float | None],
        today: Callable[[], date],
        *,
        keeps_days: int = 31,
    ) -> None:
        self.meters = {meter.point: meter for meter in meters}
        self._frozen_total = frozen_total
        self._today = today
        self.keeps_days = keeps_days
        self.missing: set[date] = set()
        self.unreachable: set[int] = set()

    def frozen(self, point: int, day: date) -> tuple[float, ...] | None:
        """Total and tariffs 1..4 frozen for ``day``, or None if the store has no record."""
        meter = self.meters.get(point)
        if meter is None or point in self.unreachable or day in self.missing:
            return None
        age = (self._today() - day).days
        if not 0 < age <= self.keeps_days:
            return None
        total = self._frozen_total(meter.meter_id, day)
        return None if total is None else tariff_split(total)
