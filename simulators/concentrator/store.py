"""What a concentrator has stored of its meters: the archive and the daily frozen values.

A real concentrator reads its meters' day freeze (forward and reverse active energy, total and
per tariff) over HPLC or RS-485 after midnight and keeps it for a number of days, and the
month's freeze for a number of months; the master asks for them later by date (AFN 0D F161,
F163) or month (F177, the freeze of the month's last day). The community model freezes the
totals only, so the tariff registers here are a fixed split of each (``tariff_split``),
rounded to the A.14 resolution the frame carries, with the total their sum as on a meter's
display. These stored values are the
simulator's ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
        frozen_export: Callable[[str, date], float | None] | None = None,
        keeps_months: int = 12,
        shown: Callable[[str, datetime], Mapping[str, float] | None] | None = None,
    ) -> None:
        """``frozen_export``: the export register frozen at the end of a day (F163); none
        given, the meters export nothing (households without generation)."""
        self.meters = {meter.point: meter for meter in meters}
        self._frozen_total = frozen_total
        self._frozen_export = frozen_export or (lambda meter_id, day: 0.0)
        self.keeps_months = keeps_months
        self._shown = shown or (lambda meter_id, at: None)
        """What a meter showed at a past moment (its curve points); None: not kept."""
        self._today = today
        self.keeps_days = keeps_days
        self.missing: set[date] = set()
        self.unreachable: set[int] = set()

    def frozen(self, point: int, day: date) -> tuple[float, ...] | None:
        """Total and tariffs 1..4 frozen for ``day``, or None if the store has no record."""
        return self._split(point, day, self._frozen_total)

    def frozen_reverse(self, point: int, day: date) -> tuple[float, ...] | None:
        """The export register's total and tariffs 1..4 frozen for ``day`` (F163)."""
        return self._split(point, day, self._frozen_export)

    def monthly(self, point: int, month: date) -> tuple[float, ...] | None:
        """Forward total and tariffs 1..4 frozen at the end of ``month`` (its first day given):
        the day freeze of the month's last day, kept for ``keeps_months`` (F177)."""
        meter = self.meters.get(point)
        if meter is None or point in self.unreachable:
            return None
        today = self._today()
        age = (today.year - month.year) * 12 + today.month - month.month
        if not 0 < age <= self.keeps_months:
            return None
        last_day = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        total = self._frozen_total(meter.meter_id, last_day)
        return None if total is None else tariff_split(total)

    def curve(
        self, point: int, quantity: str, start: datetime, step: timedelta, count: int
    ) -> list[float | None] | None:
        """``count`` points of ``quantity`` from ``start`` (naive local) every ``step``; a
        point the terminal did not keep is None (EEH on the wire); None without the meter."""
        meter = self.meters.get(point)
        if meter is None or point in self.unreachable:
            return None
        values: list[float | None] = []
        for n in range(count):
            shown = self._shown(meter.meter_id, start + n * step)
            values.append(None if shown is None else shown.get(quantity))
        return values

    def _split(
        self, point: int, day: date, source: Callable[[str, date], float | None]
    ) -> tuple[float, ...] | None:
        meter = self.meters.get(point)
        if meter is None or point in self.unreachable or day in self.missing:
            return None
        age = (self._today() - day).days
        if not 0 < age <= self.keeps_days:
            return None
        total = source(meter.meter_id, day)
        return None if total is None else tariff_split(total)
