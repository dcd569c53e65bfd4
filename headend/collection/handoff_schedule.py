"""When the daily hand-off runs, and which days a pass hands off.

The hand-off of billing day D (the reads frozen at D's local 00:00: the end of the day before)
runs at the configured local time on D, in the site's time zone. A pass hands off every day
whose time has come and that was not handed off yet, from the day after the last one handed off
(so a head-end down over its time hands the day off once, right after it starts again), at most
``MAX_CATCH_UP_DAYS`` back. On the very first start the hand-off begins with the current local
day: days from before the head-end handed off anything are not sent unasked.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final

MAX_CATCH_UP_DAYS: Final = 7
"""Days a pass hands off at most after a long stop (the oldest of them first)."""


def latest_due(now: datetime, at: time, tz: tzinfo) -> date:
    """The latest day whose hand-off time has come at ``now``."""
    local = now.astimezone(tz)
    today = local.date()
    return today if local.replace(tzinfo=None).time() >= at else today - timedelta(days=1)


def next_run(now: datetime, at: time, tz: tzinfo) -> datetime:
    """The first instant after ``now`` at which the local time is ``at`` (aware, in ``tz``)."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), at, tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return candidate


def due_days(latest: date, first_day: date, last_handed_off: date | None) -> list[date]:
    """The days a pass hands off, oldest first: from after the last one handed off (or the
    first day) to ``latest``, at most ``MAX_CATCH_UP_DAYS``."""
    start = first_day if last_handed_off is None else max(first_day, last_handed_off + timedelta(1))
    start = max(start, latest - timedelta(days=MAX_CATCH_UP_DAYS - 1))
    return [start + timedelta(days=n) for n in range((latest - start).days + 1)]


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The local midnight starting ``day`` and the next one: the freezes billed on ``day``."""
    return (
        datetime.combine(day, time(), tz),
        datetime.combine(day + timedelta(days=1), time(), tz),
    )
